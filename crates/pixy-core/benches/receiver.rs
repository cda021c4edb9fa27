//! Callback latency: from writing the browser's callback request to reading the success page's
//! last byte, p50 and p99, for Pixy's receiver (idle, and with 500 slowloris connections open)
//! and for the floor: a bare `std::net::TcpListener` loop that reads one request and replies.
//! Binding is not timed (a flow binds once); every sample is a fresh one-shot receiver.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use pixy_core::callback::Expected;
use pixy_core::loopback::{LoopbackOptions, Receiver};
use pixy_core::secret::State;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SAMPLES: usize = 2000;
const LOADED_SAMPLES: usize = 200;
const JUNK: usize = 500;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

async fn one_callback(junk: usize) -> Duration {
    let expected = Expected { state: State::new("bench-state"), issuer: None };
    let mut receiver = Receiver::bind(&LoopbackOptions::default(), expected).await.unwrap();
    let addr = format!("127.0.0.1:{}", receiver.port());
    let mut idle = Vec::with_capacity(junk);
    for _ in 0..junk {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /callback?co").await.unwrap();
        idle.push(s);
    }
    let request = format!("GET /callback?code=c&state=bench-state HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut page = Vec::with_capacity(4096);
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.read_to_end(&mut page).await.unwrap();
    let elapsed = started.elapsed();
    assert!(page.starts_with(b"HTTP/1.1 200"), "the callback must succeed");
    receiver.wait().await.unwrap();
    elapsed
}

/// The floor: accept, read the head, write a page of the same size, close.
fn floor_sample(page_len: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        let body = vec![b'x'; page_len];
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {page_len}\r\nconnection: close\r\n\r\n");
        s.write_all(reply.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = format!("GET /callback?code=c&state=bench-state HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut page = Vec::new();
    let started = Instant::now();
    stream.write_all(request.as_bytes()).unwrap();
    stream.read_to_end(&mut page).unwrap();
    let elapsed = started.elapsed();
    server.join().unwrap();
    elapsed
}

fn report(name: &str, samples: &mut [Duration]) -> (Duration, Duration) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<34} p50 {:>8.1} µs   p99 {:>8.1} µs   ({} samples)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        samples.len()
    );
    (p50, p99)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let page_len = pixy_core::pages::page(true, "You're connected", "You can close this tab and return to Pixy.").len();
    let mut idle = Vec::with_capacity(SAMPLES);
    let mut floor = Vec::with_capacity(SAMPLES);
    // Interleaved so both see the same machine state.
    for _ in 0..SAMPLES {
        idle.push(runtime.block_on(one_callback(0)));
        floor.push(floor_sample(page_len));
    }
    let mut loaded: Vec<Duration> = (0..LOADED_SAMPLES).map(|_| runtime.block_on(one_callback(JUNK))).collect();
    println!("callback request -> success page's last byte");
    let (f50, f99) = report("floor (bare TcpListener loop)", &mut floor);
    let (i50, i99) = report("pixy receiver, idle", &mut idle);
    let (l50, l99) = report("pixy receiver, 500 slowloris open", &mut loaded);
    println!(
        "ratios to the floor: idle p50 {:.2}x p99 {:.2}x; loaded p50 {:.2}x p99 {:.2}x",
        i50.as_secs_f64() / f50.as_secs_f64(),
        i99.as_secs_f64() / f99.as_secs_f64(),
        l50.as_secs_f64() / f50.as_secs_f64(),
        l99.as_secs_f64() / f99.as_secs_f64()
    );
    println!(
        "goals: p99 idle < 2 ms ({}), loaded < 20 ms ({})",
        if i99 < Duration::from_millis(2) { "met" } else { "missed" },
        if l99 < Duration::from_millis(20) { "met" } else { "missed" }
    );
    println!("(the bare loop cannot answer at all with slowloris connections ahead of the callback)");
}
