//! Search engines, as both front ends see them (F7, F10): which hosts are which engine, where a
//! search URL keeps its terms, and the parameter that forces each engine's safe search. The DNS
//! filter uses the host part (safe-search CNAMEs); the proxy, which sees URLs, reads the terms
//! and sets the parameters.

/// A search engine Ward knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Google, on any of its country domains.
    Google,
    /// Microsoft Bing.
    Bing,
    /// DuckDuckGo.
    DuckDuckGo,
    /// Yahoo search.
    Yahoo,
    /// Ecosia.
    Ecosia,
    /// YouTube's search.
    YouTube,
    /// Wikipedia's search, any language.
    Wikipedia,
}

impl Engine {
    /// Its name, for events and reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Google => "Google",
            Engine::Bing => "Bing",
            Engine::DuckDuckGo => "DuckDuckGo",
            Engine::Yahoo => "Yahoo",
            Engine::Ecosia => "Ecosia",
            Engine::YouTube => "YouTube",
            Engine::Wikipedia => "Wikipedia",
        }
    }

    /// The query parameter that forces safe search, and its value. Ecosia and Wikipedia have
    /// none (Ecosia keeps the setting in a cookie; its results come from Bing, whose DNS
    /// rewrite applies); YouTube's is a request header ([`YOUTUBE_RESTRICT`]).
    pub fn safe_search_parameter(self) -> Option<(&'static str, &'static str)> {
        match self {
            Engine::Google => Some(("safe", "active")),
            Engine::Bing => Some(("adlt", "strict")),
            Engine::DuckDuckGo => Some(("kp", "1")),
            Engine::Yahoo => Some(("vm", "r")),
            Engine::Ecosia | Engine::YouTube | Engine::Wikipedia => None,
        }
    }
}

/// The request header YouTube reads for restricted mode (`Strict` or `Moderate`).
pub const YOUTUBE_RESTRICT: &str = "youtube-restrict";

/// The engine a host (canonical: lower case, no trailing dot) belongs to, if any.
pub fn engine_of(host: &str) -> Option<Engine> {
    if is_google_search(host) {
        return Some(Engine::Google);
    }
    match host {
        "bing.com" | "www.bing.com" => Some(Engine::Bing),
        "duckduckgo.com"
        | "www.duckduckgo.com"
        | "start.duckduckgo.com"
        | "html.duckduckgo.com"
        | "lite.duckduckgo.com" => Some(Engine::DuckDuckGo),
        "search.yahoo.com" => Some(Engine::Yahoo),
        "ecosia.org" | "www.ecosia.org" => Some(Engine::Ecosia),
        "www.youtube.com" | "m.youtube.com" | "youtube.com" => Some(Engine::YouTube),
        _ => {
            if host.ends_with(".search.yahoo.com") {
                return Some(Engine::Yahoo);
            }
            let wiki = host.strip_suffix(".wikipedia.org")?;
            // `en.wikipedia.org`, `en.m.wikipedia.org`.
            (!wiki.is_empty()).then_some(Engine::Wikipedia)
        }
    }
}

/// `google.TLD` or `www.google.TLD` for Google's search domains: `com`, `cat`, a two-letter
/// country code, or `co.`/`com.` followed by one (`google.co.uk`, `google.com.au`). Every
/// country domain is covered without a list to keep up to date; only Google holds names of this
/// shape.
pub fn is_google_search(host: &str) -> bool {
    let rest = host.strip_prefix("www.").unwrap_or(host);
    let Some(tld) = rest.strip_prefix("google.") else {
        return false;
    };
    let country = |code: &str| code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase());
    match tld.split_once('.') {
        None => tld == "com" || tld == "cat" || country(tld),
        Some((second, code)) => matches!(second, "co" | "com") && country(code),
    }
}

/// The search term in a search URL of `engine` (path and query as sent), decoded; `None` for
/// other pages of the engine, and for empty searches.
pub fn search_term(engine: Engine, path_and_query: &str) -> Option<String> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = path.trim_end_matches('/');
    let parameter = match engine {
        Engine::Google | Engine::Bing | Engine::Ecosia if path == "/search" => "q",
        Engine::DuckDuckGo if matches!(path, "" | "/html" | "/lite") => "q",
        Engine::Yahoo if path == "/search" => "p",
        Engine::YouTube if path == "/results" => "search_query",
        Engine::Wikipedia if path == "/w/index.php" || path == "/wiki/Special:Search" => "search",
        Engine::Wikipedia => {
            // `/wiki/Special:Search/term`.
            let term = path.strip_prefix("/wiki/Special:Search/")?;
            return Some(decoded(term)).filter(|t| !t.trim().is_empty());
        }
        _ => return None,
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == parameter)
        .map(|(_, value)| decoded(value))
        .map(|term| term.trim().to_owned())
        .filter(|term| !term.is_empty())
}

/// `path_and_query` with the engine's safe-search parameter set (any value the user gave for it
/// removed), or `None` when the engine has no such parameter or the URL is not a search.
pub fn force_safe_search(engine: Engine, path_and_query: &str) -> Option<String> {
    let (key, value) = engine.safe_search_parameter()?;
    search_term(engine, path_and_query)?;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut out = String::with_capacity(path_and_query.len() + key.len() + value.len() + 2);
    out.push_str(path);
    out.push('?');
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if decoded(name) == key {
            continue;
        }
        out.push_str(pair);
        out.push('&');
    }
    out.push_str(key);
    out.push('=');
    out.push_str(value);
    Some(out)
}

/// Form decoding: `+` is a space, `%XX` a byte; invalid UTF-8 is replaced
/// (`how%20to+k1ll` → `how to k1ll`).
pub fn decoded(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_by_host() {
        for (host, engine) in [
            ("www.google.co.uk", Some(Engine::Google)),
            ("google.com.au", Some(Engine::Google)),
            ("www.bing.com", Some(Engine::Bing)),
            ("html.duckduckgo.com", Some(Engine::DuckDuckGo)),
            ("uk.search.yahoo.com", Some(Engine::Yahoo)),
            ("www.ecosia.org", Some(Engine::Ecosia)),
            ("m.youtube.com", Some(Engine::YouTube)),
            ("en.wikipedia.org", Some(Engine::Wikipedia)),
            ("wikipedia.org", None),
            ("google.example.com", None),
            ("notgoogle.com", None),
            ("mail.google.com", None),
        ] {
            assert_eq!(engine_of(host), engine, "{host}");
        }
    }

    #[test]
    fn terms_from_each_engine() {
        for (engine, url, term) in [
            (
                Engine::Google,
                "/search?q=how+to+tie+a+tie&hl=en",
                Some("how to tie a tie"),
            ),
            (
                Engine::Google,
                "/search?hl=en&q=caf%C3%A9%20menu",
                Some("café menu"),
            ),
            (Engine::Google, "/maps?q=leeds", None),
            (Engine::Bing, "/search?q=volcano&form=QBLH", Some("volcano")),
            (Engine::DuckDuckGo, "/?q=otters&ia=web", Some("otters")),
            (Engine::DuckDuckGo, "/html/?q=otters", Some("otters")),
            (
                Engine::Yahoo,
                "/search?p=rainbow+trout",
                Some("rainbow trout"),
            ),
            (
                Engine::Ecosia,
                "/search?method=index&q=trees",
                Some("trees"),
            ),
            (
                Engine::YouTube,
                "/results?search_query=minecraft+songs",
                Some("minecraft songs"),
            ),
            (Engine::YouTube, "/watch?v=abc", None),
            (
                Engine::Wikipedia,
                "/w/index.php?search=Tudors&title=Special%3ASearch",
                Some("Tudors"),
            ),
            (
                Engine::Wikipedia,
                "/wiki/Special:Search/Henry_VIII",
                Some("Henry_VIII"),
            ),
            (Engine::Wikipedia, "/wiki/Henry_VIII", None),
            (Engine::Google, "/search?q=", None),
            (Engine::Google, "/search?q=%", Some("%")),
            (Engine::Google, "/search?q=%zz%4", Some("%zz%4")),
        ] {
            assert_eq!(search_term(engine, url).as_deref(), term, "{url}");
        }
    }

    #[test]
    fn safe_search_is_forced_and_cannot_be_undone_by_the_user() {
        assert_eq!(
            force_safe_search(Engine::Google, "/search?q=cats&safe=off").as_deref(),
            Some("/search?q=cats&safe=active")
        );
        assert_eq!(
            force_safe_search(Engine::Google, "/search?s%61fe=off&q=cats&safe=images").as_deref(),
            Some("/search?q=cats&safe=active")
        );
        assert_eq!(
            force_safe_search(Engine::Bing, "/search?q=cats").as_deref(),
            Some("/search?q=cats&adlt=strict")
        );
        assert_eq!(
            force_safe_search(Engine::DuckDuckGo, "/?q=cats&kp=-2").as_deref(),
            Some("/?q=cats&kp=1")
        );
        assert_eq!(
            force_safe_search(Engine::Yahoo, "/search?p=cats").as_deref(),
            Some("/search?p=cats&vm=r")
        );
        assert_eq!(force_safe_search(Engine::Google, "/maps?q=x"), None);
        assert_eq!(
            force_safe_search(Engine::Wikipedia, "/w/index.php?search=x"),
            None
        );
    }
}
