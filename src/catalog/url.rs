//! Building an upstream's effective URL from its base `url` and its
//! `query_params` (the seed's `build_server_url`).

use std::collections::BTreeMap;

use url::Url;

/// Merges `query_params` into `base`.
///
/// Parameters already in the URL keep their position; a configured parameter
/// whose name is already present replaces that value in place (the catalog's
/// setting wins); the others are appended in name order. A URL without a
/// query and no parameters is returned unchanged.
///
/// `https://api.com?foo=1` + `{bar: 2}` → `https://api.com/?foo=1&bar=2`.
pub fn build_server_url(base: &Url, query_params: &BTreeMap<String, String>) -> Url {
    if query_params.is_empty() {
        return base.clone();
    }
    let mut pairs: Vec<(String, String)> = base
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (key, value) in query_params {
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(existing) => existing.1.clone_from(value),
            None => pairs.push((key.clone(), value.clone())),
        }
    }
    let mut url = base.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(base: &str, params: &[(&str, &str)]) -> String {
        let base = Url::parse(base).expect("test URL");
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        build_server_url(&base, &params).to_string()
    }

    #[test]
    fn new_parameters_are_appended_after_existing_ones() {
        assert_eq!(
            build("https://api.com?foo=1", &[("bar", "2")]),
            "https://api.com/?foo=1&bar=2"
        );
    }

    #[test]
    fn existing_parameters_are_kept_in_order() {
        assert_eq!(
            build("https://h/mcp?z=1&a=2", &[("m", "3")]),
            "https://h/mcp?z=1&a=2&m=3"
        );
    }

    #[test]
    fn a_configured_parameter_replaces_the_same_name_in_place() {
        assert_eq!(
            build("https://h/mcp?version=1&x=y", &[("version", "2")]),
            "https://h/mcp?version=2&x=y"
        );
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(
            build("wss://h/ws", &[("q", "a b&c")]),
            "wss://h/ws?q=a+b%26c"
        );
    }

    #[test]
    fn no_parameters_leaves_the_url_alone() {
        assert_eq!(build("https://h/mcp?x=%2F", &[]), "https://h/mcp?x=%2F");
    }
}
