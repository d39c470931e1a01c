//! Names the DNS filter answers itself whatever the policy's categories say: the bypass names
//! (F8) and the safe-search rewrites (F7).

use ward_gateway::search::{Engine, engine_of};
use ward_policy::YouTubeMode;

/// Why a name is answered "no such name" for everyone.
pub fn bypass(name: &str) -> Option<&'static str> {
    match name {
        // Firefox turns its DNS-over-HTTPS default off on a network that says this name does
        // not exist, and keeps using the school's resolver.
        "use-application-dns.net" => Some("Firefox DNS-over-HTTPS canary"),
        // iCloud Private Relay hides browsing from the school's filter; Apple devices fall back
        // to the network's DNS when these names do not resolve.
        "mask.icloud.com" | "mask-h2.icloud.com" | "mask-api.icloud.com" => {
            Some("iCloud Private Relay")
        }
        _ => None,
    }
}

/// A safe-search rewrite: the safe host to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeSearch {
    /// The host whose addresses are served instead.
    pub target: &'static str,
    /// Which engine, for the event.
    pub engine: &'static str,
    /// Variant byte for the cache key (distinct per target).
    pub variant: u8,
}

const GOOGLE: SafeSearch = SafeSearch {
    target: "forcesafesearch.google.com",
    engine: "Google SafeSearch",
    variant: 1,
};
const BING: SafeSearch = SafeSearch {
    target: "strict.bing.com",
    engine: "Bing SafeSearch",
    variant: 2,
};
const DUCKDUCKGO: SafeSearch = SafeSearch {
    target: "safe.duckduckgo.com",
    engine: "DuckDuckGo safe search",
    variant: 3,
};
const YOUTUBE_STRICT: SafeSearch = SafeSearch {
    target: "restrict.youtube.com",
    engine: "YouTube strict restricted mode",
    variant: 4,
};
const YOUTUBE_MODERATE: SafeSearch = SafeSearch {
    target: "restrictmoderate.youtube.com",
    engine: "YouTube moderate restricted mode",
    variant: 5,
};

/// The rewrite for `name` (lower case, no trailing dot) under a group's settings, if any.
pub fn safe_search(name: &str, search: bool, youtube: YouTubeMode) -> Option<SafeSearch> {
    if search {
        // The engines' hosts are the proxy's too (`ward_gateway::search`): one table.
        match engine_of(name) {
            Some(Engine::Google) => return Some(GOOGLE),
            Some(Engine::Bing) => return Some(BING),
            Some(Engine::DuckDuckGo) => return Some(DUCKDUCKGO),
            _ => {}
        }
    }
    let youtube_target = match youtube {
        YouTubeMode::Strict => YOUTUBE_STRICT,
        YouTubeMode::Moderate => YOUTUBE_MODERATE,
        YouTubeMode::Off => return None,
    };
    // The names Google documents for enforcing restricted mode by DNS.
    matches!(
        name,
        "www.youtube.com"
            | "m.youtube.com"
            | "youtubei.googleapis.com"
            | "youtube.googleapis.com"
            | "www.youtube-nocookie.com"
    )
    .then_some(youtube_target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_country_domains_are_rewritten() {
        for name in [
            "google.com",
            "www.google.com",
            "www.google.co.uk",
            "google.de",
            "www.google.com.au",
            "www.google.cat",
        ] {
            assert_eq!(
                safe_search(name, true, YouTubeMode::Off).map(|s| s.target),
                Some("forcesafesearch.google.com"),
                "{name}"
            );
        }
        for name in [
            "mail.google.com",
            "google.example.com",
            "www.google.info",
            "notgoogle.com",
            "www.google.com.evil.org",
        ] {
            assert_eq!(safe_search(name, true, YouTubeMode::Off), None, "{name}");
        }
    }

    #[test]
    fn settings_apply_per_group() {
        assert_eq!(
            safe_search("www.bing.com", false, YouTubeMode::Strict),
            None
        );
        assert_eq!(
            safe_search("www.bing.com", true, YouTubeMode::Off).map(|s| s.target),
            Some("strict.bing.com")
        );
        assert_eq!(
            safe_search("duckduckgo.com", true, YouTubeMode::Off).map(|s| s.target),
            Some("safe.duckduckgo.com")
        );
        // The proxy's engine table and the DNS filter's are one: DuckDuckGo's lite site, which
        // the DNS list used to miss, is enforced too.
        assert_eq!(
            safe_search("lite.duckduckgo.com", true, YouTubeMode::Off).map(|s| s.target),
            Some("safe.duckduckgo.com")
        );
        assert_eq!(
            safe_search("www.youtube.com", false, YouTubeMode::Strict).map(|s| s.target),
            Some("restrict.youtube.com")
        );
        assert_eq!(
            safe_search("m.youtube.com", true, YouTubeMode::Moderate).map(|s| s.target),
            Some("restrictmoderate.youtube.com")
        );
        assert_eq!(safe_search("www.youtube.com", true, YouTubeMode::Off), None);
    }

    #[test]
    fn bypass_names() {
        assert!(bypass("use-application-dns.net").is_some());
        assert!(bypass("mask.icloud.com").is_some());
        assert!(bypass("mask-h2.icloud.com").is_some());
        assert!(bypass("www.icloud.com").is_none());
    }
}
