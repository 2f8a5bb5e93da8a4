//! The analyzer that turns tool names, descriptions and queries into index
//! terms. Documents and queries go through the same function, so whatever it
//! does to a word it does on both sides and the two still meet.
//!
//! Three steps, kept small so a ranking can be explained by hand:
//!
//! 1. **Split.** Runs of letters and digits, cut again at camelCase
//!    (`pullNumber` → `pull number`, `HTTPServer` → `http server`, but
//!    `URLs` stays one word) and at letter/digit boundaries. A piece cut only
//!    at digits is also kept whole, so `s3`, `k8s` and `oauth2` stay findable
//!    as written. Email addresses are skipped: they are values for a tool,
//!    not words about it.
//! 2. **Drop** a short list of English stop words and single letters.
//! 3. **Stem** with a light suffix stripper in the spirit of Porter's step 1:
//!    plurals (`-s`, `-es`, `-ies`), `-ing`, `-ed`, `-ly`, a doubled final
//!    consonant left by those (`mapped` → `map`), then a final `e`, so that
//!    `create`, `created` and `creating` all become `creat`.
//!
//! The lists of synonyms and abbreviations a query also looks for live here
//! too ([`related_terms`]), so they are analyzed exactly like the text.

use std::collections::HashMap;

/// Words that say nothing about which tool is meant; sorted for
/// `binary_search`. Verbs such as "get", "list" or "show" are *not* here:
/// they tell `list_pods` from `delete_pod`.
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "ours",
    "please", "she", "should", "so", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "to", "too", "us", "was", "we", "were", "what", "when",
    "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
];

/// Words that name the same thing in the vocabulary of tools, any of which a
/// query may use where a tool's text uses another (`ticket` for `issue`,
/// `post` for `send`). A query word found here also looks for the others, at
/// a discount (see `SYNONYM_WEIGHT` in the index). Words with a second,
/// common meaning are left out (`make` a copy, `query` a database, `put`
/// the card in a cycle) or only go one way, in [`ONE_WAY`].
const SYNONYMS: &[&[&str]] = &[
    &["create", "add", "new"],
    &["delete", "remove", "erase", "trash"],
    &["get", "fetch", "retrieve", "view"],
    &["search", "find", "lookup"],
    &["update", "edit", "modify", "change"],
    &["send", "post"],
    &["upload", "store"],
    &["copy", "duplicate", "clone"],
    &["start", "run", "launch", "trigger", "execute"],
    &["stop", "cancel", "abort", "halt", "terminate", "kill"],
    &["reply", "respond", "answer"],
    &["comment", "note", "remark"],
    &["label", "tag"],
    &["issue", "ticket", "bug"],
    &["event", "meeting", "appointment"],
    &["email", "mail"],
    &["url", "link"],
    &["row", "record", "entry", "item"],
    &["folder", "directory"],
    &["user", "member", "person", "people"],
    &["setting", "configuration", "preference"],
    &["error", "exception", "crash", "failure", "problem"],
    &["balance", "money", "funds", "cash"],
];

/// Abbreviations and idioms a query may use, looked up one way (`pr` also
/// looks for `pull request`, but `pull request` does not look for `pr`).
/// One *opens* an issue, a pull request or a ticket, which tools call
/// *create*; an object store's *put* is an upload; error trackers group
/// errors into *issues*.
const ONE_WAY: &[(&str, &str)] = &[
    ("open", "create"),
    ("upload", "put"),
    ("error", "issue"),
    ("pr", "pull request"),
    ("mr", "merge request"),
    ("db", "database"),
    ("k8s", "kubernetes"),
    ("dm", "direct message"),
    ("msg", "message"),
    ("dir", "directory"),
    ("repo", "repository"),
    ("env", "environment"),
    ("config", "configuration"),
    ("info", "information"),
    ("doc", "document"),
];

/// For each term a query may contain, the other terms it also looks for:
/// [`SYNONYMS`] and [`ONE_WAY`], analyzed like everything else.
pub(crate) fn related_terms() -> HashMap<String, Vec<String>> {
    let mut related: HashMap<String, Vec<String>> = HashMap::new();
    for group in SYNONYMS {
        let stems: Vec<String> = group.iter().map(|word| stem(word)).collect();
        for (i, key) in stems.iter().enumerate() {
            let others = stems.iter().enumerate().filter(|&(j, _)| j != i);
            let entry = related.entry(key.clone()).or_default();
            entry.extend(others.map(|(_, other)| other.clone()));
        }
    }
    for (short, long) in ONE_WAY {
        related
            .entry(stem(short))
            .or_default()
            .extend(analyze(long));
    }
    for terms in related.values_mut() {
        terms.sort_unstable();
        terms.dedup();
    }
    related
}

/// The terms of `text`, in order, duplicates kept.
pub(crate) fn analyze(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    analyze_into(text, &mut terms);
    terms
}

/// Appends the terms of `text` to `out` (see the module docs for the steps).
pub(crate) fn analyze_into(text: &str, out: &mut Vec<String>) {
    words_into(text, out, stem_owned);
}

/// Appends the words of `text` as typed, split, lowercased and without stop
/// words but not stemmed, each behind `prefix` (which keeps them apart from
/// stemmed terms in one vocabulary).
pub(crate) fn surface_into(text: &str, prefix: &str, out: &mut Vec<String>) {
    words_into(text, out, |word| format!("{prefix}{word}"));
}

fn words_into(text: &str, out: &mut Vec<String>, finish: impl Fn(String) -> String) {
    for_each_word(text, |word| {
        let lower = word.to_lowercase();
        let single_letter = lower.chars().count() == 1 && !lower.chars().all(char::is_numeric);
        if single_letter || STOP_WORDS.binary_search(&lower.as_str()).is_ok() {
            return;
        }
        out.push(finish(lower));
    });
}

/// Calls `emit` with each raw (not yet lowercased) word of `text`.
fn for_each_word(text: &str, mut emit: impl FnMut(&str)) {
    let runs = text
        .split_whitespace()
        .filter(|chunk| !is_email_address(chunk))
        .flat_map(|chunk| chunk.split(|c: char| !c.is_alphanumeric()))
        .filter(|run| !run.is_empty());
    let mut chars: Vec<(usize, char)> = Vec::new();
    for run in runs {
        chars.clear();
        chars.extend(run.char_indices());
        let mut start = 0;
        for i in 1..chars.len() {
            let (at, c) = chars[i];
            let prev = chars[i - 1].1;
            let next = chars.get(i + 1).map(|&(_, n)| n);
            let next_is_last = i + 2 == chars.len();
            if camel_boundary(prev, c, next, next_is_last) {
                split_digits(&run[start..at], &mut emit);
                start = at;
            }
        }
        split_digits(&run[start..], &mut emit);
    }
}

/// An address such as `alice@example.com` is a value to pass to a tool, not
/// a word about what the tool does ("email the report to alice@…"): left out.
fn is_email_address(chunk: &str) -> bool {
    chunk.split_once('@').is_some_and(|(user, domain)| {
        user.chars().last().is_some_and(char::is_alphanumeric) && domain.contains('.')
    })
}

/// Whether a new word starts at `c`: `aB`, `2B`, or the `S` of `HTTPServer`
/// (an upper-case letter between an upper-case letter and a lower-case one,
/// unless that lower-case letter is a final plural `s`, as in `URLs`).
fn camel_boundary(prev: char, c: char, next: Option<char>, next_is_last: bool) -> bool {
    if !c.is_uppercase() {
        return false;
    }
    if prev.is_lowercase() || prev.is_numeric() {
        return true;
    }
    match next {
        Some(n) if prev.is_uppercase() && n.is_lowercase() => !(n == 's' && next_is_last),
        _ => false,
    }
}

/// Emits `part` cut at letter/digit boundaries; when it was cut, also emits
/// it whole (`s3` → `s`, `3`, `s3`).
fn split_digits(part: &str, emit: &mut impl FnMut(&str)) {
    let mut start = 0;
    let mut prev_digit = None;
    let mut cut = false;
    for (at, c) in part.char_indices() {
        let digit = c.is_numeric();
        if prev_digit.is_some_and(|p| p != digit) {
            emit(&part[start..at]);
            start = at;
            cut = true;
        }
        prev_digit = Some(digit);
    }
    emit(&part[start..]);
    if cut {
        emit(part);
    }
}

/// The stem of a lowercase word. Words of three letters or fewer, and words
/// with anything but ASCII letters, are left alone.
pub(crate) fn stem(word: &str) -> String {
    stem_owned(word.to_owned())
}

/// [`stem`], reusing the word's buffer.
fn stem_owned(mut w: String) -> String {
    if w.len() <= 3 || !w.bytes().all(|b| b.is_ascii_lowercase()) {
        return w;
    }
    strip_plural(&mut w);
    if strip_verb_suffix(&mut w) {
        undouble(&mut w);
    }
    if w.len() >= 4 && w.ends_with('e') && !w.ends_with("ee") {
        w.pop();
    }
    w
}

/// `classes` → `class`, `policies` → `policy`, `branches` → `branch`,
/// `pods` → `pod`; `status`, `analysis` and `access` keep their `s`.
fn strip_plural(w: &mut String) {
    if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with("ies") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if ["ches", "shes", "xes", "zes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !["ss", "us", "is"].iter().any(|s| w.ends_with(s)) {
        w.pop();
    }
}

/// Strips `-ied` (to `y`), `-ing`, `-ed` or `-ly` when enough of a word is
/// left; true when `-ing` or `-ed` went, which may leave a doubled consonant.
fn strip_verb_suffix(w: &mut String) -> bool {
    let has_vowel = |s: &str| s.bytes().any(|b| b"aeiouy".contains(&b));
    if w.ends_with("ied") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
        return false;
    }
    for suffix in ["ing", "ed"] {
        if !w.ends_with(suffix) || w.ends_with("eed") {
            continue;
        }
        let rest = &w[..w.len() - suffix.len()];
        if rest.len() >= 3 && has_vowel(rest) {
            w.truncate(rest.len());
            return true;
        }
        return false;
    }
    if w.ends_with("ly") && w.len() >= 6 {
        w.truncate(w.len() - 2);
    }
    false
}

/// `mapp` → `map`, `runn` → `run`; `add`, `pass`, `call` stay.
fn undouble(w: &mut String) {
    let bytes = w.as_bytes();
    let n = bytes.len();
    if n >= 4 && bytes[n - 1] == bytes[n - 2] && !b"aeioulsz".contains(&bytes[n - 1]) {
        w.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::{STOP_WORDS, analyze, related_terms, stem};

    #[test]
    fn names_split_at_separators_camel_case_and_digits() {
        assert_eq!(analyze("github__create_issue"), ["github", "creat", "issu"]);
        assert_eq!(
            analyze("aws-s3__list.buckets/v2"),
            ["aws", "3", "s3", "list", "bucket", "2", "v2"]
        );
        assert_eq!(
            analyze("getPullRequestDiff"),
            ["get", "pull", "request", "diff"]
        );
        assert_eq!(analyze("HTTPServer"), ["http", "server"]);
        assert_eq!(analyze("listURLs"), ["list", "url"]);
    }

    #[test]
    fn the_word_lists_are_sorted_and_analyzed_consistently() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        let related = related_terms();
        assert_eq!(related["ticket"], ["bug", "issu"]);
        assert_eq!(related["pr"], ["pull", "request"]);
    }

    #[test]
    fn email_addresses_are_values_not_words() {
        assert_eq!(
            analyze("email alice@example.com the report"),
            ["email", "report"]
        );
        assert_eq!(analyze("@-mentionable handles"), ["mentionabl", "handl"]);
    }

    #[test]
    fn stop_words_and_single_letters_are_dropped() {
        assert_eq!(analyze("What is on the calendar for me?"), ["calendar"]);
        assert_eq!(analyze("the customer's plan"), ["customer", "plan"]);
        assert!(analyze("what is it to me").is_empty());
    }

    #[test]
    fn inflections_meet_at_one_stem() {
        for (a, b) in [
            ("issues", "issue"),
            ("creating", "create"),
            ("created", "create"),
            ("repositories", "repository"),
            ("branches", "branch"),
            ("classes", "class"),
            ("mapped", "map"),
            ("running", "run"),
            ("scheduled", "schedule"),
            ("messages", "message"),
            ("weekly", "week"),
            ("copied", "copy"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        assert_eq!(stem("issues"), "issu");
        assert_eq!(stem("creating"), "creat");
        assert_eq!(stem("policies"), "policy");
    }

    #[test]
    fn short_and_special_words_keep_their_shape() {
        for word in [
            "status", "analysis", "access", "add", "pass", "call", "string", "reply", "tree",
        ] {
            assert_eq!(stem(word), word);
        }
        assert_eq!(stem("k8s"), "k8s");
        assert_eq!(stem("sql"), "sql");
    }
}
