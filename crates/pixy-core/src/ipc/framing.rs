//! One JSON object per line, each at most [`MAX_LINE`] bytes.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, ErrorKind, Result};

/// The longest line either side accepts.
pub const MAX_LINE: usize = 1024 * 1024;

/// Writes one message and a newline.
pub async fn write_message<W: AsyncWrite + Unpin, T: Serialize>(out: &mut W, message: &T) -> Result<()> {
    let mut line = serde_json::to_vec(message).expect("protocol types serialize");
    line.push(b'\n');
    out.write_all(&line).await.map_err(broken)?;
    out.flush().await.map_err(broken)
}

/// Reads one message; `None` at a clean end of stream.
pub async fn read_message<R: AsyncBufRead + Unpin, T: DeserializeOwned>(input: &mut R) -> Result<Option<T>> {
    let mut line = Vec::new();
    loop {
        let buf = input.fill_buf().await.map_err(broken)?;
        if buf.is_empty() {
            if line.is_empty() {
                return Ok(None);
            }
            return Err(Error::new(ErrorKind::DaemonUnavailable, "the connection ended mid-message"));
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE {
            return Err(Error::new(ErrorKind::InvalidRequest, "message too long"));
        }
        line.extend_from_slice(&buf[..take]);
        input.consume(take);
        if done {
            break;
        }
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| Error::new(ErrorKind::InvalidRequest, format!("malformed message: {e}")))
}

fn broken(e: std::io::Error) -> Error {
    Error::new(ErrorKind::DaemonUnavailable, format!("the connection to the daemon broke: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::Request;

    #[tokio::test]
    async fn messages_round_trip_one_per_line() {
        let mut buf = Vec::new();
        write_message(&mut buf, &Request::Status).await.unwrap();
        write_message(&mut buf, &Request::Token { account: "a".into(), min_valid: None, can_prompt: false })
            .await
            .unwrap();
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 2);
        let mut input = tokio::io::BufReader::new(&buf[..]);
        assert_eq!(read_message::<_, Request>(&mut input).await.unwrap(), Some(Request::Status));
        assert_eq!(
            read_message::<_, Request>(&mut input).await.unwrap(),
            Some(Request::Token { account: "a".into(), min_valid: None, can_prompt: false })
        );
        assert_eq!(read_message::<_, Request>(&mut input).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_overlong_line_is_refused() {
        let big = vec![b'x'; MAX_LINE + 10];
        let mut input = tokio::io::BufReader::new(&big[..]);
        let err = read_message::<_, Request>(&mut input).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
    }

    #[tokio::test]
    async fn garbage_is_a_clear_error() {
        let mut input = tokio::io::BufReader::new(&b"{nope\n"[..]);
        assert_eq!(read_message::<_, Request>(&mut input).await.unwrap_err().kind, ErrorKind::InvalidRequest);
    }
}
