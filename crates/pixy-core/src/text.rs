//! Text a provider supplies, made safe to show.
//!
//! An email claim, a name or an `error_description` comes from a server Pixy does not control and
//! is shown in a terminal, the window and the tray. A terminal acts on escape sequences (clear the
//! screen, set the clipboard with OSC 52, rewrite earlier lines), and bidirectional overrides make
//! text read other than it is. [`printable`] keeps the words and drops all of that: control
//! characters (C0, DEL, C1) and the invisible direction marks and overrides. Line breaks and tabs
//! become one space, so a provider cannot fake a line of Pixy's own output either.

/// `text` without control characters or direction overrides, at most `max_chars` characters.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars));
    let mut kept = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if kept == max_chars {
            break;
        }
        if c.is_whitespace() {
            pending_space = kept > 0;
            continue;
        }
        if c.is_control() || is_direction_control(c) {
            continue;
        }
        if pending_space {
            if kept + 1 == max_chars {
                break;
            }
            out.push(' ');
            kept += 1;
            pending_space = false;
        }
        out.push(c);
        kept += 1;
    }
    out
}

/// Unicode's invisible marks that reorder text (the "Trojan Source" characters).
fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escape_sequences_lose_their_escape() {
        let hostile = "a\u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7}b\u{9b}31mc\u{7f}d";
        let shown = printable(hostile, 200);
        assert!(!shown.chars().any(char::is_control), "no control character survives: {shown:?}");
        assert_eq!(shown, "a[2J]52;c;ZXZpbA==b31mcd", "the visible characters stay, in order");
    }

    #[test]
    fn line_breaks_and_runs_of_space_become_one_space() {
        assert_eq!(printable("  first\r\n\tsecond  ", 200), "first second");
    }

    #[test]
    fn direction_overrides_are_dropped() {
        assert_eq!(printable("user\u{202E}moc.live\u{202C}@x", 200), "usermoc.live@x");
    }

    #[test]
    fn the_length_is_capped_in_characters() {
        assert_eq!(printable("ééééé", 3), "ééé");
        assert_eq!(printable("ab cd", 3), "ab", "a trailing space is not kept at the cap");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        let plain = "Zoë <zoe@example.com> — invalid_grant: the code has expired";
        assert_eq!(printable(plain, 200), plain);
    }
}
