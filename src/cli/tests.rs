use super::*;

const KEY: &str = "key-1234567890";

fn run_config(request: Request) -> Config {
    match request {
        Request::Run(config) => *config,
        Request::Generate(what) => panic!("not a run: {what:?}"),
        Request::QuickHelp(_) => panic!("not a run: -h"),
    }
}

fn env_with_key(name: &str) -> Option<String> {
    (name == "PEAKA_API_KEY").then(|| KEY.to_owned())
}

fn parse_ok(extra: &[&str]) -> Config {
    let mut args = vec!["peaka-wait", "--project-id", "p", "--cache-id", "c"];
    args.extend_from_slice(extra);
    run_config(parse(args, env_with_key).unwrap_or_else(|e| panic!("{extra:?}: {e:?}")))
}

fn parse_err(args: &[&str], env: fn(&str) -> Option<String>) -> String {
    match parse(args.iter().copied(), env) {
        Ok(config) => panic!("{args:?} was accepted: {config:?}"),
        Err(CliError::Invalid(message)) => message,
        Err(CliError::Clap(err)) => err.to_string(),
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = parse_ok(&[]);
    assert_eq!(config.base_url.as_str(), DEFAULT_BASE_URL);
    assert_eq!(config.execution, ExecutionFilter::Any);
    assert_eq!(config.timeout, Duration::from_secs(1800));
    assert_eq!(config.initial_interval, Duration::from_secs(1));
    assert_eq!(config.max_interval, Duration::from_secs(30));
    assert_eq!(config.request_timeout, Duration::from_secs(10));
    assert_eq!(
        (config.log_format, config.log_level, config.output),
        (Format::Text, LogLevel::Info, Format::Text)
    );
    assert_eq!(config.api_key.expose(), KEY);
}

#[test]
fn cache_ids_repeat_split_trim_and_dedupe() {
    let config = parse_ok(&["--cache-id", "b, c,,", "--cache-id", "d", "--cache-id", "c"]);
    assert_eq!(config.cache_ids, ["c", "b", "d"]);
}

#[test]
fn every_flag_parses() {
    let config = parse_ok(&[
        "--execution",
        "both",
        "--since",
        "15m",
        "--started-after",
        "2026-11-24T10:00:00Z",
        "--timeout",
        "0",
        "--initial-interval",
        "500ms",
        "--max-interval",
        "5s",
        "--request-timeout",
        "2s",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--output",
        "json",
        "--base-url",
        "http://127.0.0.1:9/api/v1/",
    ]);
    assert_eq!(config.execution, ExecutionFilter::Both);
    assert_eq!(config.since, Some(TimeSpec::Ago(Duration::from_secs(900))));
    assert!(matches!(config.started_after, Some(TimeSpec::At(_))));
    assert_eq!(config.timeout, Duration::ZERO);
    assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9/api/v1/");
    assert_eq!(
        (config.log_format, config.log_level, config.output),
        (Format::Json, LogLevel::Debug, Format::Json)
    );
}

#[test]
fn the_key_comes_from_a_trimmed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "  from-file-12345\n").unwrap();
    let args = [
        "peaka-wait",
        "--project-id",
        "p",
        "--cache-id",
        "c",
        "--api-key-file",
        path.to_str().unwrap(),
    ];
    let config = run_config(parse(args, |_| None).unwrap());
    assert_eq!(config.api_key.expose(), "from-file-12345");
    assert!(!format!("{config:?}").contains("from-file"));
    let both = parse_err(&args, env_with_key);
    assert!(both.contains("use one"), "{both}");
    std::fs::write(&path, " \n").unwrap();
    assert!(parse_err(&args, |_| None).contains("is empty"));
}

#[test]
fn bad_input_is_refused_with_a_fix() {
    const BASE: [&str; 5] = ["peaka-wait", "--project-id", "p", "--cache-id", "c"];
    fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        BASE.iter().chain(extra).copied().collect()
    }
    let base = BASE;
    let no_env = |_: &str| None;
    let empty_key = |name: &str| (name == "PEAKA_API_KEY").then(String::new);
    type Env = fn(&str) -> Option<String>;
    let table: Vec<(Vec<&str>, Env, &str)> = vec![
        (base.to_vec(), no_env, "no API key"),
        (base.to_vec(), empty_key, "PEAKA_API_KEY is empty"),
        (
            with(&["--api-key", "SECRET"]),
            env_with_key,
            "--api-key is not accepted",
        ),
        (
            with(&["--api-key=SECRET"]),
            env_with_key,
            "--api-key is not accepted",
        ),
        (
            with(&["--base-url", "http://example.com/api/v1"]),
            env_with_key,
            "clear text",
        ),
        (
            with(&["--base-url", "ftp://127.0.0.1/"]),
            env_with_key,
            "https://",
        ),
        (
            with(&["--base-url", "not a url"]),
            env_with_key,
            "not a URL",
        ),
        (
            with(&["--base-url", "https://u:p@h/"]),
            env_with_key,
            "user name",
        ),
        (
            with(&["--base-url", "https://h/?x=1"]),
            env_with_key,
            "query",
        ),
        (with(&["--timeout", "30"]), env_with_key, "needs a unit"),
        (with(&["--since", "2026-11-24"]), env_with_key, "RFC 3339"),
        (
            with(&["--execution", "sometimes"]),
            env_with_key,
            "sometimes",
        ),
        (
            with(&["--initial-interval", "0"]),
            env_with_key,
            "more than 0",
        ),
        (
            with(&["--request-timeout", "0"]),
            env_with_key,
            "more than 0",
        ),
        (
            with(&["--initial-interval", "1m", "--max-interval", "30s"]),
            env_with_key,
            "shorter than",
        ),
        (
            vec!["peaka-wait", "--project-id", "p", "--cache-id", ","],
            env_with_key,
            "--cache-id is empty",
        ),
        (
            vec!["peaka-wait", "--project-id", "..", "--cache-id", "c"],
            env_with_key,
            "not an id",
        ),
        (
            vec!["peaka-wait", "--project-id", " ", "--cache-id", "c"],
            env_with_key,
            "is empty",
        ),
        (
            vec!["peaka-wait", "--cache-id", "c"],
            env_with_key,
            "--project-id",
        ),
    ];
    for (args, env, hint) in table {
        let message = parse_err(&args, env);
        assert!(message.contains(hint), "{args:?}: {message}");
        assert!(
            !message.contains("SECRET"),
            "{args:?} echoed the key: {message}"
        );
    }
}

#[test]
fn the_help_is_consistent() {
    use clap::CommandFactory;
    Args::command().debug_assert();
}
