//! The small HTML pages the loopback listener answers with.
//!
//! Every echoed value is escaped; every page is sent with `Cache-Control: no-store`,
//! `Referrer-Policy: no-referrer` and a CSP that allows nothing but the inline style.

/// Headers every page carries.
pub const HEADERS: [(&str, &str); 5] = [
    ("content-type", "text/html; charset=utf-8"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
];

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with a heading and a sentence; both are escaped.
pub fn page(ok: bool, heading: &str, text: &str) -> String {
    let (mark, colour) = if ok { ("&#10003;", "#2f9e6e") } else { ("!", "#c0563b") };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Pixy — {heading}</title><style>
body{{font:16px/1.5 system-ui,sans-serif;margin:0;min-height:100vh;display:grid;place-items:center;background:#f5f6f8;color:#1d2330}}
@media(prefers-color-scheme:dark){{body{{background:#16181d;color:#e6e8ee}}main{{background:#20232a!important}}}}
main{{background:#fff;padding:2.5rem 3rem;border-radius:16px;box-shadow:0 6px 30px #0002;text-align:center;max-width:28rem}}
.mark{{width:56px;height:56px;border-radius:50%;display:grid;place-items:center;margin:0 auto 1rem;color:#fff;font-size:28px;background:{colour}}}
h1{{font-size:1.3rem;margin:.2rem 0 .6rem}}p{{margin:0;opacity:.8}}</style></head>
<body><main><div class="mark">{mark}</div><h1>{}</h1><p>{}</p></main></body></html>"#,
        escape(heading),
        escape(text),
        heading = escape(heading),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_markup_is_escaped() {
        let html = page(false, "Sign-in failed", "<script>alert(1)</script> & \"quotes\"");
        assert!(!html.contains("<script>"), "a script tag must never be echoed raw");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    }
}
