//! PKCE pair generation: Pixy's against the `oauth2` crate's and against the floor, side by side
//! in one run. The floor is the bare work: 32 bytes from rand's thread CSPRNG, SHA-256 and
//! base64url, with nothing around it. The ratios are what matter.

use criterion::{criterion_group, criterion_main, Criterion};

fn pkce(c: &mut Criterion) {
    let mut group = c.benchmark_group("pkce_s256_pair");
    group.bench_function("pixy", |b| b.iter(|| std::hint::black_box(pixy_core::pkce::PkcePair::generate())));
    group.bench_function("oauth2", |b| b.iter(|| std::hint::black_box(oauth2::PkceCodeChallenge::new_random_sha256())));
    group.bench_function("floor", |b| b.iter(|| std::hint::black_box(bare_pair())));
    group.finish();
}

/// A verifier and challenge with nothing but the three steps every implementation must take.
fn bare_pair() -> (String, String) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rand::RngCore;
    use sha2::{Digest, Sha256};
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let verifier = URL_SAFE_NO_PAD.encode(seed);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

criterion_group!(benches, pkce);
criterion_main!(benches);
