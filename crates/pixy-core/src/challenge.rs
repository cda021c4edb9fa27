//! The Bearer challenge of a `WWW-Authenticate` header (RFC 6750 §3, RFC 9728 §5.1): which
//! resource metadata to read, which scopes the resource asks for, and why it refused.
//!
//! The header is text a server supplies: it is parsed strictly (auth-params as `token=token` or
//! `token="quoted"`), unknown parameters are ignored, and a value is kept only as the typed
//! field Pixy uses. Nothing of it is echoed to a person but through [`crate::text::printable`].

/// What a Bearer challenge says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// RFC 9728: where the resource's metadata is.
    pub resource_metadata: Option<String>,
    /// The scopes the resource asks for (space-separated in the header).
    pub scopes: Option<Vec<String>>,
    /// RFC 6750 error code: `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
}

/// The Bearer challenge in a `WWW-Authenticate` value, if it holds one (other schemes, such as
/// `DPoP` or `Basic`, may come before or after it).
pub fn parse(header: &str) -> Option<Challenge> {
    let mut rest = header.trim();
    let mut current_is_bearer = false;
    let mut found: Option<Challenge> = None;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let (token, after) = take_token(rest);
        if token.is_empty() {
            // Not a token where one belongs: the header is malformed from here on.
            break;
        }
        let after_ws = after.trim_start();
        if let Some(value_part) = after_ws.strip_prefix('=') {
            // An auth-param of the current challenge.
            let (value, remaining) = take_value(value_part.trim_start())?;
            if current_is_bearer {
                let challenge = found.get_or_insert_with(Challenge::default);
                match token.to_ascii_lowercase().as_str() {
                    "resource_metadata" => challenge.resource_metadata = Some(value),
                    "scope" => {
                        challenge.scopes = Some(value.split_whitespace().map(str::to_string).collect());
                    }
                    "error" => challenge.error = Some(value),
                    _ => {}
                }
            }
            rest = remaining;
        } else {
            // A new challenge's scheme (token68 credentials are not used by Bearer challenges).
            if current_is_bearer && found.is_some() {
                break;
            }
            current_is_bearer = token.eq_ignore_ascii_case("bearer");
            if current_is_bearer {
                found.get_or_insert_with(Challenge::default);
            }
            rest = after;
        }
    }
    found
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_tchar(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// A token or quoted-string value, and what follows it; `None` for an unterminated quote.
fn take_value(s: &str) -> Option<(String, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let (token, rest) = take_token(s);
        return Some((token.to_string(), rest));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, &quoted[i + 1..])),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_gives_its_metadata_scopes_and_error() {
        let c = parse(
            r#"Bearer realm="mcp", error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.scopes, Some(vec!["files:read".to_string(), "files:write".to_string()]));
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn the_bearer_challenge_is_found_among_other_schemes() {
        let c = parse(r#"Basic realm="x", Bearer scope=read, DPoP algs="ES256""#).unwrap();
        assert_eq!(c.scopes, Some(vec!["read".to_string()]));
        assert_eq!(c.resource_metadata, None, "DPoP's parameters are not the Bearer challenge's");
        assert_eq!(parse("bearer").unwrap(), Challenge::default(), "the scheme is case-insensitive");
    }

    #[test]
    fn quoted_values_unescape_and_junk_is_no_challenge() {
        let c = parse(r#"Bearer error="a\"b""#).unwrap();
        assert_eq!(c.error.as_deref(), Some("a\"b"));
        assert_eq!(parse(r#"Basic realm="x""#), None, "no Bearer challenge");
        assert_eq!(parse(""), None);
        assert_eq!(parse(r#"Bearer scope="unterminated"#), None, "an unterminated quote is malformed");
        assert!(parse("Bearer ,,, ===").is_some(), "junk after the scheme is ignored, not a panic");
    }
}
