//! Fuzzes what the loopback listener does with one raw request: the request head is parsed as
//! hyper does (httparse), then judged by `loopback::decide`. It must never panic, and it must
//! never end the flow without the right state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixy_core::callback::Expected;
use pixy_core::loopback::decide;
use pixy_core::secret::State;

const STATE: &str = "fuzz-state-0123456789";

fuzz_target!(|data: &[u8]| {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = request.parse(data) else { return };
    let (Some(method), Some(target)) = (request.method, request.path) else { return };
    let Ok(method) = hyper_method(method) else { return };
    let header = |name: &str| {
        request.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let expected = Expected { state: State::new(STATE), issuer: None };
    let decision = decide(&method, target, header("host"), header("origin").is_some(), "127.0.0.1:8080", "/callback", &expected);
    if decision.outcome.is_some() {
        assert!(target.contains(STATE), "the flow ended without its state");
    }
});

fn hyper_method(m: &str) -> Result<pixy_core::loopback::Method, ()> {
    pixy_core::loopback::Method::from_bytes(m.as_bytes()).map_err(|_| ())
}
