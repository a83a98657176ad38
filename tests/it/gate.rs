//! The loop and the client together against wiremock: sequences of
//! replies, and how each kind of trouble ends (or does not end) the gate.

use std::time::{Duration, Instant};

use peaka_wait::client::Client;
use peaka_wait::decision::ExecutionFilter;
use peaka_wait::exit_codes::Outcome;
use peaka_wait::gate::{self, CacheState, Plan, Report};
use peaka_wait::schedule::Schedule;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const STATUS_PATH: &str = "/api/v1/data/projects/p/cache/c/status";

fn execution(status: &str, finished: Option<&str>) -> Value {
    json!({
        "id": "e1", "executionMode": "MANUAL", "status": status, "error": null,
        "progress": {"numberOfCachedRecords": 42},
        "createdAt": "2026-11-24T10:00:00.000Z", "updatedAt": "2026-11-24T10:00:01.000Z",
        "finishedAt": finished,
    })
}

fn status(top: &str, incremental: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "c", "status": top,
        "lastIncrementalCacheExecution": incremental,
        "lastFullRefreshCacheExecution": null,
    }))
}

fn running() -> ResponseTemplate {
    status("RUNNING", execution("RUNNING", None))
}

fn completed() -> ResponseTemplate {
    status(
        "COMPLETED",
        execution("COMPLETED", Some("2026-11-24T10:05:00.123Z")),
    )
}

fn plan(caches: &[&str], timeout: Duration) -> Plan {
    let mut plan = Plan::new("p", caches, ExecutionFilter::Any, timeout);
    plan.request_timeout = Duration::from_secs(2);
    plan
}

/// Mounts `first` for the first `times` requests, then `then` for ever.
async fn sequence(
    server: &MockServer,
    first: ResponseTemplate,
    times: u64,
    then: ResponseTemplate,
) {
    Mock::given(method("GET"))
        .and(path(STATUS_PATH))
        .respond_with(first)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(STATUS_PATH))
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

fn client(server: &MockServer) -> Client {
    Client::new(
        format!("{}/api/v1/", server.uri()).parse().unwrap(),
        "test-key",
    )
    .unwrap()
}

async fn run_with(server: &MockServer, plan: &Plan) -> Report {
    let client = client(server);
    let schedule = Schedule::new(Duration::from_millis(20), Duration::from_millis(40));
    gate::run(plan, &client, schedule, std::future::pending()).await
}

async fn run(server: &MockServer, timeout: Duration) -> Report {
    run_with(server, &plan(&["c"], timeout)).await
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

#[tokio::test]
async fn running_then_completed_is_ready() {
    let server = MockServer::start().await;
    sequence(&server, running(), 2, completed()).await;
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
    assert_eq!(report.polls, 3);
    assert_eq!(report.caches[0].state, CacheState::Ready);
}

#[tokio::test]
async fn requests_carry_the_documented_headers_and_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(STATUS_PATH))
        .and(query_param("excludeLogs", "true"))
        .and(header("authorization", "Bearer test-key"))
        .and(header("accept", "application/json"))
        .and(header(
            "user-agent",
            concat!("peaka-wait/", env!("CARGO_PKG_VERSION")),
        ))
        .respond_with(completed())
        .expect(1)
        .mount(&server)
        .await;
    let report = run(&server, Duration::from_secs(5)).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
}

#[tokio::test]
async fn an_id_cannot_change_the_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/data/projects/p/cache/..%2F..%2Fx/status"))
        .respond_with(completed())
        .expect(1)
        .mount(&server)
        .await;
    let report = run_with(&server, &plan(&["../../x"], Duration::from_secs(5))).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
}

#[tokio::test]
async fn a_5xx_is_retried_then_ready() {
    let server = MockServer::start().await;
    sequence(&server, ResponseTemplate::new(503), 2, completed()).await;
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
    assert_eq!(report.polls, 3);
    assert_eq!(
        report.caches[0].last_error.as_deref(),
        Some("the API answered HTTP 503")
    );
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let server = MockServer::start().await;
    sequence(
        &server,
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        1,
        completed(),
    )
    .await;
    let started = Instant::now();
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
    // The schedule alone would have polled again after at most 40 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.polls, 2);
}

#[tokio::test]
async fn retry_after_never_pushes_past_the_deadline() {
    let server = MockServer::start().await;
    sequence(
        &server,
        ResponseTemplate::new(503).insert_header("retry-after", "60"),
        1,
        completed(),
    )
    .await;
    let started = Instant::now();
    let report = run(&server, Duration::from_millis(500)).await;
    // The last poll happens at the deadline, and it finds the cache ready.
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
    assert_eq!(report.polls, 2);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn one_last_poll_happens_at_the_deadline() {
    let server = MockServer::start().await;
    sequence(&server, running(), 100, running()).await;
    let client = client(&server);
    let plan = plan(&["c"], Duration::from_millis(600));
    // A first pause far longer than the timeout: only the deadline poll follows.
    let schedule = Schedule::new(Duration::from_secs(30), Duration::from_secs(30));
    let report = gate::run(&plan, &client, schedule, std::future::pending()).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert_eq!(report.polls, 2);
    assert!(
        report.message.contains("incremental sync e1 is RUNNING"),
        "{}",
        report.message
    );
}

#[tokio::test]
async fn unauthorized_and_forbidden_are_not_retried() {
    for code in [401, 403] {
        let server = MockServer::start().await;
        let body = json!({"error": "UnauthorizedException", "message": "Invalid API key", "errorCode": 100});
        sequence(
            &server,
            ResponseTemplate::new(code).set_body_json(body),
            100,
            completed(),
        )
        .await;
        let report = run(&server, Duration::from_secs(10)).await;
        assert_eq!(report.outcome, Outcome::Unauthorized, "{code}");
        assert_eq!(requests(&server).await, 1, "{code}");
        assert!(
            report.message.contains("Invalid API key"),
            "{}",
            report.message
        );
    }
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let server = MockServer::start().await;
    let body =
        json!({"error": "NotFoundException", "message": "Cache not found", "errorCode": "cn004"});
    sequence(
        &server,
        ResponseTemplate::new(404).set_body_json(body),
        100,
        completed(),
    )
    .await;
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::NotFound);
    assert_eq!(requests(&server).await, 1);
    assert_eq!(report.caches[0].state, CacheState::NotFound);
    assert!(
        report.message.contains("Cache not found"),
        "{}",
        report.message
    );
}

#[tokio::test]
async fn a_deleted_cache_is_not_found() {
    let server = MockServer::start().await;
    sequence(&server, status("DELETED", Value::Null), 100, completed()).await;
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::NotFound);
    assert!(report.message.contains("DELETED"), "{}", report.message);
}

#[tokio::test]
async fn other_4xx_show_the_server_message() {
    let server = MockServer::start().await;
    let body = json!({"error": "WrongRequestException", "message": "Cache settings not found", "errorCode": null});
    sequence(
        &server,
        ResponseTemplate::new(400).set_body_json(body),
        100,
        completed(),
    )
    .await;
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::ApiError);
    assert_eq!(requests(&server).await, 1);
    assert!(
        report
            .message
            .contains("HTTP 400: Cache settings not found"),
        "{}",
        report.message
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    for code in [301, 302, 307, 308] {
        let server = MockServer::start().await;
        let elsewhere = format!("{}/elsewhere", server.uri());
        sequence(
            &server,
            ResponseTemplate::new(code).insert_header("location", elsewhere.as_str()),
            100,
            completed(),
        )
        .await;
        Mock::given(path("/elsewhere"))
            .respond_with(completed())
            .expect(0)
            .mount(&server)
            .await;
        let report = run(&server, Duration::from_secs(10)).await;
        assert_eq!(report.outcome, Outcome::ApiError, "{code}");
        assert!(report.message.contains(&elsewhere), "{}", report.message);
        assert_eq!(requests(&server).await, 1, "{code}");
    }
}

#[tokio::test]
async fn malformed_bodies_are_retried_until_the_deadline() {
    let bodies: [(&str, &str); 4] = [
        ("<html>Bad gateway</html>", "not valid JSON"),
        ("{\"status\": \"RUNN", "not valid JSON"),
        ("{\"message\": \"ok\"}", "not a cache status"),
        ("[]", "not a cache status"),
    ];
    for (body, cause) in bodies {
        let server = MockServer::start().await;
        sequence(
            &server,
            ResponseTemplate::new(200).set_body_string(body),
            1000,
            completed(),
        )
        .await;
        let report = run(&server, Duration::from_millis(300)).await;
        assert_eq!(report.outcome, Outcome::Timeout, "{body}");
        assert!(report.polls >= 2, "{body}: {} polls", report.polls);
        assert!(report.message.contains(cause), "{body}: {}", report.message);
    }
}

#[tokio::test]
async fn a_malformed_body_then_a_good_one_is_ready() {
    let server = MockServer::start().await;
    sequence(
        &server,
        ResponseTemplate::new(200).set_body_string("{"),
        1,
        completed(),
    )
    .await;
    let report = run(&server, Duration::from_secs(10)).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
}

#[tokio::test]
async fn an_oversized_body_is_refused_not_read() {
    let server = MockServer::start().await;
    let huge = vec![b' '; peaka_wait::client::MAX_BODY_BYTES + 1];
    sequence(
        &server,
        ResponseTemplate::new(200).set_body_bytes(huge),
        1000,
        completed(),
    )
    .await;
    let report = run(&server, Duration::from_millis(300)).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert!(
        report.message.contains("larger than 4 MiB"),
        "{}",
        report.message
    );
}

#[tokio::test]
async fn a_slow_reply_is_cut_by_the_request_timeout_and_the_deadline() {
    let server = MockServer::start().await;
    sequence(
        &server,
        completed().set_delay(Duration::from_secs(30)),
        1000,
        completed(),
    )
    .await;
    let mut plan = plan(&["c"], Duration::from_secs(1));
    plan.request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let report = run_with(&server, &plan).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert!(
        report.message.contains("no complete reply within 300ms"),
        "{}",
        report.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_truncated_reply_is_retried() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"status\":").await;
            // Dropping the socket cuts the body short.
        }
    });
    let client = Client::new(format!("http://{addr}/").parse().unwrap(), "k").unwrap();
    let schedule = Schedule::new(Duration::from_millis(20), Duration::from_millis(40));
    let report = gate::run(
        &plan(&["c"], Duration::from_millis(300)),
        &client,
        schedule,
        std::future::pending(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert!(report.polls >= 2);
    assert!(report.message.contains("cut off"), "{}", report.message);
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_named() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(format!("http://127.0.0.1:{port}/").parse().unwrap(), "k").unwrap();
    let schedule = Schedule::new(Duration::from_millis(20), Duration::from_millis(40));
    let report = gate::run(
        &plan(&["c"], Duration::from_millis(300)),
        &client,
        schedule,
        std::future::pending(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert!(report.polls >= 2);
    assert!(
        report.message.contains("cannot connect"),
        "{}",
        report.message
    );
}

#[tokio::test]
async fn checking_once_makes_one_request() {
    let server = MockServer::start().await;
    sequence(&server, running(), 100, running()).await;
    let report = run(&server, Duration::ZERO).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert_eq!(report.polls, 1);
    assert!(
        report.message.contains("single check"),
        "{}",
        report.message
    );

    let server = MockServer::start().await;
    sequence(&server, completed(), 100, completed()).await;
    assert_eq!(run(&server, Duration::ZERO).await.outcome, Outcome::Ready);
}

fn list(statuses: &[(&str, &str, Value)]) -> ResponseTemplate {
    let items: Vec<Value> = statuses
        .iter()
        .map(|(id, top, incremental)| json!({"id": id, "status": top, "lastIncrementalCacheExecution": incremental, "lastFullRefreshCacheExecution": null}))
        .collect();
    ResponseTemplate::new(200).set_body_json(Value::Array(items))
}

#[tokio::test]
async fn several_caches_are_polled_with_one_request_per_round() {
    let server = MockServer::start().await;
    let done = || execution("COMPLETED", Some("2026-11-24T10:05:00Z"));
    let list_path = "/data/projects/p/cache/status";
    Mock::given(path(list_path))
        .respond_with(list(&[
            ("a", "COMPLETED", done()),
            ("b", "RUNNING", execution("RUNNING", None)),
        ]))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(list_path))
        .respond_with(list(&[
            ("a", "COMPLETED", done()),
            ("b", "COMPLETED", done()),
        ]))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = Client::new(server.uri().parse().unwrap(), "k").unwrap();
    let schedule = || Schedule::new(Duration::from_millis(20), Duration::from_millis(40));
    let report = gate::run(
        &plan(&["a", "b"], Duration::from_secs(10)),
        &client,
        schedule(),
        std::future::pending(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
    assert_eq!(
        report.polls, 3,
        "one list request per round, none per cache"
    );
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn several_caches_stop_at_the_first_failure_and_a_missing_one_is_not_found() {
    let server = MockServer::start().await;
    let done = || execution("COMPLETED", Some("2026-11-24T10:05:00Z"));
    let failed = execution("FAILED", Some("2026-11-24T10:05:00Z"));
    Mock::given(path("/data/projects/p/cache/status"))
        .respond_with(list(&[("a", "COMPLETED", done()), ("f", "FAILED", failed)]))
        .mount(&server)
        .await;
    let client = Client::new(server.uri().parse().unwrap(), "k").unwrap();
    let schedule = || Schedule::new(Duration::from_millis(20), Duration::from_millis(40));
    let report = gate::run(
        &plan(&["a", "f", "missing"], Duration::from_secs(10)),
        &client,
        schedule(),
        std::future::pending(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.message);
    assert!(
        report
            .message
            .starts_with("cache f: incremental sync e1 FAILED"),
        "{}",
        report.message
    );

    let report = gate::run(
        &plan(&["a", "missing"], Duration::from_secs(10)),
        &client,
        schedule(),
        std::future::pending(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::NotFound, "{}", report.message);
    assert!(
        report
            .message
            .contains("cache missing: not among the caches of project p"),
        "{}",
        report.message
    );
    assert_eq!(report.caches[1].state, CacheState::NotFound);
}

#[tokio::test]
async fn a_signal_stops_the_gate_at_once() {
    let server = MockServer::start().await;
    sequence(&server, running(), 1000, running()).await;
    let client = client(&server);
    let schedule = Schedule::new(Duration::from_secs(5), Duration::from_secs(5));
    let stop = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Outcome::Terminated
    };
    let started = Instant::now();
    let report = gate::run(
        &plan(&["c"], Duration::from_secs(60)),
        &client,
        schedule,
        stop,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Terminated);
    assert_eq!(report.outcome.code(), 143);
    assert!(report.message.contains("SIGTERM"), "{}", report.message);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_trigger_that_may_have_reached_the_server_is_never_repeated() {
    let server = MockServer::start().await;
    let record = |id: &str, created: &str, status: &str| {
        json!({"id": id, "executionMode": "INCREMENTAL", "status": status, "createdAt": created,
               "updatedAt": created, "finishedAt": if status == "COMPLETED" { Value::String(created.into()) } else { Value::Null }})
    };
    // The new record is created after the trigger, by the server's clock.
    let now = jiff::Timestamp::now();
    let before = self::status(
        "COMPLETED",
        record(
            "old",
            &(now - jiff::SignedDuration::from_hours(1)).to_string(),
            "COMPLETED",
        ),
    );
    let after = self::status(
        "COMPLETED",
        record(
            "new",
            &(now + jiff::SignedDuration::from_secs(1)).to_string(),
            "COMPLETED",
        ),
    );
    // The baseline read, then the old record twice more (the new one is not visible yet), then the new one.
    sequence(&server, before, 3, after).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/data/projects/p/cache/c/incrementalUpdate"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let mut plan = plan(&["c"], Duration::from_secs(10));
    plan.trigger = Some(peaka_wait::api::ExecutionKind::Incremental);
    let report = run_with(&server, &plan).await;
    assert_eq!(report.outcome, Outcome::Ready, "{}", report.message);
    let execution = report.caches[0]
        .status
        .as_ref()
        .and_then(|s| s.last_incremental_cache_execution.as_ref());
    assert_eq!(execution.and_then(|e| e.id.as_deref()), Some("new"));
    // 3 status reads of the old record + 1 of the new + 1 trigger.
    assert_eq!(report.polls, 5);
}
