//! Which proxy, if any, the requests go through: `--proxy` / `PEAKA_PROXY`,
//! else the usual `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
//! variables (upper or lower case), decided once at the start because
//! every request goes to the same host.
//!
//! The decision is made here rather than left to reqwest's automatic
//! lookup so that a bad value is a usage error naming the variable, the
//! log can say which proxy is used, and a connection error can name it.

use std::net::IpAddr;

use reqwest::Url;

/// The proxy every request goes through, and where it was set.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyChoice {
    url: Url,
    source: &'static str,
}

impl ProxyChoice {
    /// The proxy's URL, credentials included: for the HTTP client only.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The flag or variable that set it (`--proxy`, `HTTPS_PROXY`, ...).
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The proxy's password, if its URL has one, so that it can be
    /// scrubbed from error text.
    pub fn password(&self) -> Option<&str> {
        self.url.password()
    }

    /// The proxy as it may be shown: scheme, host and port, never the
    /// user name or password.
    pub fn display(&self) -> String {
        display(&self.url)
    }
}

fn display(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

impl std::fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyChoice({} from {})", self.display(), self.source)
    }
}

/// Decides the proxy for requests to `base`: `flag` (`--proxy` /
/// `PEAKA_PROXY`) wins; otherwise the variable for the base's scheme,
/// then `ALL_PROXY`, upper case before lower case, as curl and reqwest
/// read them. `NO_PROXY` applies to both. Empty values count as unset.
pub fn choose(
    base: &Url,
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ProxyChoice>, String> {
    let set = |name: &'static str| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    };
    let chosen = match flag.filter(|v| !v.trim().is_empty()) {
        Some(value) => Some(("--proxy", value.to_owned())),
        None => {
            // A CGI script's HTTP_PROXY can come from a request header
            // ("httpoxy"); curl and reqwest ignore it there, so do we.
            let cgi = env("REQUEST_METHOD").is_some();
            let names: &[&'static str] = if base.scheme() == "https" {
                &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            } else if cgi {
                &["http_proxy", "ALL_PROXY", "all_proxy"]
            } else {
                &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            };
            names.iter().find_map(|name| set(name))
        }
    };
    let Some((source, value)) = chosen else {
        return Ok(None);
    };
    let url = parse_proxy_url(source, &value)?;
    // An http:// base is allowed only on loopback so that the key never
    // crosses the network in clear text; a proxy elsewhere would carry it
    // there (and could not reach this machine's loopback anyway).
    if base.scheme() == "http" && !on_loopback(&url) {
        if source == "--proxy" {
            return Err(format!(
                "--proxy {} is not on this machine, and the base URL is http://: the API key would cross the network in clear text. Use an https:// base URL, or a proxy on 127.0.0.1",
                display(&url)
            ));
        }
        return Ok(None);
    }
    let bypass = set("NO_PROXY").or_else(|| set("no_proxy"));
    if let Some((_, list)) = bypass {
        if no_proxy_matches(&list, base) {
            return Ok(None);
        }
    }
    Ok(Some(ProxyChoice { url, source }))
}

fn on_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A proxy URL: `http://` or `https://`, with a host; a bare `host:port`
/// means `http://host:port`, as curl reads it. The message never repeats
/// the value, which may hold a password.
fn parse_proxy_url(source: &str, value: &str) -> Result<Url, String> {
    let value = value.trim();
    let fix = "give it as http://HOST:PORT (or https://HOST:PORT; a user name and password may go before the host)";
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|err| format!("the proxy in {source} is not a URL ({err}): {fix}"))?;
    match url.scheme() {
        "http" | "https" => {}
        "socks5" | "socks5h" | "socks4" | "socks4a" => {
            return Err(format!(
                "the proxy in {source} is a SOCKS proxy ({}://), which peaka-wait does not support: {fix}",
                url.scheme()
            ));
        }
        other => {
            return Err(format!(
                "the proxy in {source} has the scheme {other}://, which is not a proxy scheme: {fix}"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the proxy in {source} has no host: {fix}"));
    }
    if url.path() != "/" && !url.path().is_empty() || url.query().is_some() {
        return Err(format!(
            "the proxy in {source} has a path or query, which a proxy address cannot have: {fix}"
        ));
    }
    Ok(url)
}

/// Whether a `NO_PROXY` list covers the base's host: `*`; an IP address
/// or a CIDR block; a domain, which also covers its subdomains (a leading
/// dot is optional). Ports in entries are ignored, as curl does.
fn no_proxy_matches(list: &str, base: &Url) -> bool {
    let Some(host) = base.host() else {
        return false;
    };
    let ip: Option<IpAddr> = match host {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    };
    let domain = match host {
        url::Host::Domain(name) => Some(name.trim_end_matches('.').to_ascii_lowercase()),
        _ => None,
    };
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or(entry);
        if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
            return in_block(ip, net, bits);
        }
        if let Some(ip) = ip {
            // "127.0.0.1:8080" → "127.0.0.1"; an IPv6 entry has no port here.
            let bare = entry
                .parse::<IpAddr>()
                .ok()
                .or_else(|| entry.rsplit_once(':').and_then(|(h, _)| h.parse().ok()));
            return bare == Some(ip);
        }
        let Some(domain) = &domain else {
            return false;
        };
        let entry = entry.split(':').next().unwrap_or(entry);
        let entry = entry.trim_start_matches('.').to_ascii_lowercase();
        !entry.is_empty()
            && (*domain == entry
                || domain
                    .strip_suffix(&entry)
                    .is_some_and(|rest| rest.ends_with('.')))
    })
}

/// Whether `ip` is in the block `net`/`bits`.
fn in_block(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn chosen(base: &str, flag: Option<&str>, pairs: &'static [(&str, &str)]) -> Option<String> {
        choose(&Url::parse(base).unwrap(), flag, &env_of(pairs))
            .unwrap()
            .map(|p| format!("{} {}", p.source(), p.display()))
    }

    #[test]
    fn the_variable_follows_the_base_scheme_and_the_flag_wins() {
        let env: &[(&str, &str)] = &[
            ("HTTPS_PROXY", "http://s:1"),
            ("HTTP_PROXY", "http://h:2"),
            ("ALL_PROXY", "http://a:3"),
        ];
        assert_eq!(
            chosen("https://peaka/", None, env).as_deref(),
            Some("HTTPS_PROXY http://s:1")
        );
        assert_eq!(
            chosen(
                "http://127.0.0.1/",
                None,
                &[("HTTP_PROXY", "http://localhost:2")]
            )
            .as_deref(),
            Some("HTTP_PROXY http://localhost:2")
        );
        // A proxy elsewhere would carry the key of an http:// base in clear text.
        assert_eq!(chosen("http://127.0.0.1/", None, env), None);
        let refused = choose(
            &Url::parse("http://127.0.0.1/").unwrap(),
            Some("http://u:hunter2@proxy.corp:3128"),
            &env_of(&[]),
        )
        .unwrap_err();
        assert!(
            refused.contains("clear text") && !refused.contains("hunter2"),
            "{refused}"
        );
        assert_eq!(
            chosen("https://peaka/", Some("p:9"), env).as_deref(),
            Some("--proxy http://p:9")
        );
        assert_eq!(
            chosen("https://peaka/", None, &[("all_proxy", "a:3")]).as_deref(),
            Some("all_proxy http://a:3")
        );
        assert_eq!(
            chosen("https://peaka/", None, &[("https_proxy", "https://s:4")]).as_deref(),
            Some("https_proxy https://s:4")
        );
        assert_eq!(
            chosen("https://peaka/", None, &[("HTTPS_PROXY", " ")]),
            None
        );
        assert_eq!(chosen("https://peaka/", None, &[]), None);
        // httpoxy: under CGI the upper-case HTTP_PROXY is ignored.
        assert_eq!(
            chosen(
                "http://127.0.0.1/",
                None,
                &[("HTTP_PROXY", "127.0.0.1:2"), ("REQUEST_METHOD", "GET")]
            ),
            None
        );
        assert_eq!(
            chosen("http://127.0.0.1/", None, &[("http_proxy", "127.0.0.1:2")]).as_deref(),
            Some("http_proxy http://127.0.0.1:2")
        );
    }

    #[test]
    fn no_proxy_bypasses_by_domain_ip_block_and_star() {
        let cases: &[(&str, &str, bool)] = &[
            ("peaka.studio", "https://partner.peaka.studio/", true),
            (".peaka.studio", "https://partner.peaka.studio/", true),
            ("peaka.studio", "https://peaka.studio/", true),
            ("aka.studio", "https://partner.peaka.studio/", false),
            ("PEAKA.studio:443", "https://partner.peaka.studio/", true),
            ("127.0.0.1", "http://127.0.0.1:9/", true),
            ("127.0.0.1:9", "http://127.0.0.1:9/", true),
            ("127.0.0.0/8", "http://127.9.9.9/", true),
            ("10.0.0.0/8", "http://127.0.0.1/", false),
            ("::1", "http://[::1]:80/", true),
            ("[::1]", "http://[::1]:80/", true),
            ("localhost", "http://localhost:80/", true),
            ("localhost", "http://127.0.0.1:80/", false),
            ("x, *", "https://anything/", true),
            ("", "https://anything/", false),
        ];
        for (list, base, want) in cases {
            assert_eq!(
                no_proxy_matches(list, &Url::parse(base).unwrap()),
                *want,
                "{list} / {base}"
            );
        }
        assert_eq!(
            chosen(
                "https://h.example/",
                None,
                &[("HTTPS_PROXY", "p:1"), ("no_proxy", "example")]
            ),
            None
        );
        assert_eq!(
            chosen(
                "https://h.example/",
                Some("p:1"),
                &[("NO_PROXY", "h.example")]
            ),
            None
        );
    }

    #[test]
    fn bad_proxies_are_refused_naming_the_source_not_the_password() {
        let cases: &[(&str, &str)] = &[
            ("socks5://u:hunter2@p:1080", "SOCKS"),
            ("ftp://u:hunter2@p:21", "not a proxy scheme"),
            ("http://u:hunter2@p:1/path", "path"),
            ("http://u:hunter2@:1", "not a URL"),
        ];
        for (value, hint) in cases {
            let err = parse_proxy_url("HTTPS_PROXY", value).unwrap_err();
            assert!(err.contains(hint), "{value}: {err}");
            assert!(err.contains("HTTPS_PROXY"), "{value}: {err}");
            assert!(!err.contains("hunter2"), "{value}: {err}");
        }
    }

    #[test]
    fn credentials_are_kept_for_the_client_but_never_shown() {
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| "http://me:hunter2@p:3128".into());
        let choice = choose(&Url::parse("https://peaka/").unwrap(), None, &env)
            .unwrap()
            .unwrap();
        assert_eq!(choice.password(), Some("hunter2"));
        assert_eq!(choice.display(), "http://p:3128");
        assert!(!format!("{choice:?}").contains("hunter2"));
    }
}
