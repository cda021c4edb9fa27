//! Pixy's PKCE pair against the Grantex Python SDK's `generate_pkce()`: byte-identical for the
//! same 32 random bytes. The SDK comes from PyPI (`make setup` installs it where
//! `PIXY_GRANTEX_SDK` points).

use std::process::Command;

use pixy_core::pkce::PkcePair;

/// Runs the SDK's `generate_pkce()` once per seed, with `os.urandom` answering the seed;
/// returns (verifier, challenge) for each.
fn sdk_pairs(seeds: &[[u8; 32]]) -> Vec<(String, String)> {
    let sdk = std::env::var("PIXY_GRANTEX_SDK").unwrap_or_default();
    let script = "import sys, types, grantex._pkce as m\n\
                  for seed in sys.argv[1:]:\n    \
                      m.os = types.SimpleNamespace(urandom=lambda n, s=bytes.fromhex(seed): s[:n])\n    \
                      p = m.generate_pkce()\n    \
                      print(p.code_verifier, p.code_challenge, p.code_challenge_method)";
    let hex = |seed: &[u8; 32]| seed.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(seeds.iter().map(hex))
        .env("PYTHONPATH", &sdk)
        .output()
        .unwrap_or_else(|e| panic!("{python} cannot run: {e}"));
    assert!(
        out.status.success(),
        "the Grantex SDK did not run (PIXY_GRANTEX_SDK={sdk:?}; `make setup` installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let pairs: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert_eq!(fields[2], "S256");
            (fields[0].to_string(), fields[1].to_string())
        })
        .collect();
    assert_eq!(pairs.len(), seeds.len(), "{text}");
    pairs
}

#[test]
fn pkce_pairs_are_byte_identical_to_the_grantex_sdk_for_the_same_random_bytes() {
    let mut seeds: Vec<[u8; 32]> = vec![[0; 32], [0xff; 32], std::array::from_fn(|i| i as u8)];
    // And some the OS picks, so the comparison is not of fixed cases only.
    for _ in 0..5 {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        seeds.push(seed);
    }
    for (seed, (verifier, challenge)) in seeds.iter().zip(sdk_pairs(&seeds)) {
        let ours = PkcePair::from_seed(seed);
        assert_eq!(ours.verifier.expose(), verifier, "verifier for {seed:02x?}");
        assert_eq!(ours.challenge, challenge, "challenge for {seed:02x?}");
        assert_eq!(verifier.len(), 43);
    }
}
