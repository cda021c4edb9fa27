//! The daemon's side of `pixy token`: one Token request answered with a fresh token (index and
//! store reads included, with the in-memory store), in ns per call; and, once, how many refresh
//! requests 100 concurrent callers on an expired token cause (the goal is exactly one).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use pixy_core::daemon::Daemon;
use pixy_core::ipc::{Event, Request};
use tokio::sync::mpsc;

#[path = "../tests/support/mod.rs"]
mod support;

async fn ask(service: &Arc<Daemon>, request: Request) -> Event {
    let (tx, mut rx) = mpsc::channel(16);
    let s = service.clone();
    tokio::spawn(async move { s.handle(request, tx).await });
    let mut last = None;
    while let Some(e) = rx.recv().await {
        last = Some(e);
    }
    last.expect("an answer")
}

/// A service with one demo account linked (the person's approval played over HTTP).
async fn linked(demo: &pixy_demo::DemoServer, name: &str) -> (Arc<Daemon>, String) {
    let dir = support::fresh_dir(&format!("bench-{name}"));
    let (service, _) = support::service(&dir, Some(demo.issuer()), Duration::from_secs(10));
    let Event::Linked { account } = support::link_and_approve(&service, "demo").await else { panic!("linked") };
    (service, account.id)
}

fn access_token(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let demo = runtime.block_on(pixy_demo::DemoServer::start(0)).unwrap();
    let (service, id) = runtime.block_on(linked(&demo, "fresh"));
    c.bench_function("token_request_fresh", |b| {
        b.iter(|| {
            runtime.block_on(ask(&service, Request::Token { account: id.clone(), min_valid: None, can_prompt: false }))
        })
    });

    let short = runtime
        .block_on(pixy_demo::DemoServer::start_with(pixy_demo::DemoConfig {
            port: 0,
            access_token_ttl: Duration::from_secs(2),
        }))
        .unwrap();
    let (service, id) = runtime.block_on(linked(&short, "expired"));
    std::thread::sleep(Duration::from_millis(2100));
    let before = short.stats().refresh_token;
    runtime.block_on(async {
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let (s, id) = (service.clone(), id.clone());
                tokio::spawn(async move {
                    ask(&s, Request::Token { account: id, min_valid: None, can_prompt: false }).await
                })
            })
            .collect();
        for call in calls {
            assert!(matches!(call.await.unwrap(), Event::Token { .. }), "every caller gets a token");
        }
    });
    println!(
        "100 concurrent token requests on an expired token -> {} refresh request(s) (goal: 1)",
        short.stats().refresh_token - before
    );
}

criterion_group!(benches, access_token);
criterion_main!(benches);
