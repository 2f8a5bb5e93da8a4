//! Unit tests of the fixture's authorization server: PKCE S256 checks
//! (RFC 7636), resource-indicator comparison and HTTP Basic client names.

use super::*;

/// RFC 7636, Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn the_rfc_7636_example_verifier_matches_its_challenge() {
    assert!(pkce_s256_matches(VERIFIER, CHALLENGE));
}

#[test]
fn another_verifier_does_not_match() {
    let other = VERIFIER.replace('d', "e");
    assert!(!pkce_s256_matches(&other, CHALLENGE));
}

#[test]
fn the_plain_method_is_not_accepted() {
    // A client that sends the verifier itself as the challenge ("plain").
    assert!(!pkce_s256_matches(VERIFIER, VERIFIER));
}

#[test]
fn malformed_verifiers_never_match() {
    let short = &VERIFIER[..42];
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, short.as_bytes());
    let short_challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    assert!(!pkce_s256_matches(short, &short_challenge), "42 characters");

    let spaced = format!("{} ", &VERIFIER[..43]);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spaced.as_bytes());
    let spaced_challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    assert!(!pkce_s256_matches(&spaced, &spaced_challenge), "a space");

    let long = "a".repeat(129);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, long.as_bytes());
    assert!(
        !pkce_s256_matches(&long, &URL_SAFE_NO_PAD.encode(digest.as_ref())),
        "129 characters"
    );
}

#[test]
fn resources_compare_as_urls() {
    assert!(same_resource(
        "http://127.0.0.1:1/mcp",
        "http://127.0.0.1:1/mcp/"
    ));
    assert!(same_resource(
        "HTTP://127.0.0.1:1/mcp",
        "http://127.0.0.1:1/mcp"
    ));
    assert!(!same_resource(
        "http://127.0.0.1:1/other",
        "http://127.0.0.1:1/mcp"
    ));
    assert!(!same_resource("not a url", "http://127.0.0.1:1/mcp"));
}

#[test]
fn basic_auth_names_the_client() {
    let mut headers = HeaderMap::new();
    let encoded = base64::engine::general_purpose::STANDARD.encode("fxclient_a:");
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
    );
    assert_eq!(basic_user(&headers).as_deref(), Some("fxclient_a"));
}
