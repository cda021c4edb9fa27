//! PKCE pair generation: Pixy's against the `oauth2` crate's, side by side in one run.
//! Both draw 32 bytes from the OS CSPRNG and hash them with SHA-256; the ratio is what matters.

use criterion::{criterion_group, criterion_main, Criterion};

fn pkce(c: &mut Criterion) {
    let mut group = c.benchmark_group("pkce_s256_pair");
    group.bench_function("pixy", |b| b.iter(|| std::hint::black_box(pixy_core::pkce::PkcePair::generate())));
    group.bench_function("oauth2", |b| b.iter(|| std::hint::black_box(oauth2::PkceCodeChallenge::new_random_sha256())));
    group.finish();
}

criterion_group!(benches, pkce);
criterion_main!(benches);
