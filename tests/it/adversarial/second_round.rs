//! A hostile server against the trigger's proof (issue 16 §1) and the one
//! retry policy (issue 17 §2), second round. Each test here failed on the
//! main branch it was written against, or guards a rule that held and is
//! the guarantee itself (said beside it).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::triggered::TRIGGERED_WAIT;
use super::*;

const TRIGGER: &str = "/api/v1/data/projects/p/cache/c/incrementalUpdate";
const CANCEL: &str = "/api/v1/data/projects/p/cache/c/cancelIncrementalUpdate";

/// The slot's record before the trigger: `e1`, completed 2 h ago.
fn e1_two_hours_ago() -> Value {
    cache(
        "c",
        "COMPLETED",
        execution("e1", "COMPLETED", -2 * HOUR, Some(-2 * HOUR + 300)),
        Value::Null,
    )
}

/// Cache `c` shows `e1` (completed 2 h ago) at the first read and a new
/// run `e2`, created now and running, from then on; the trigger gets
/// `trigger`, every cancel 200 (counted).
fn trigger_answered(trigger: ResponseTemplate) -> (String, Arc<AtomicUsize>) {
    let cancels = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&cancels);
    let before = e1_two_hours_ago();
    let base = serve(vec![
        route(
            "GET",
            STATUS_C,
            Box::new(move |n| {
                if n == 0 {
                    ok(&before)
                } else {
                    ok(&cache(
                        "c",
                        "RUNNING",
                        execution("e2", "RUNNING", 0, None),
                        Value::Null,
                    ))
                }
            }),
        ),
        route("POST", TRIGGER, Box::new(move |_| trigger.clone())),
        route(
            "POST",
            CANCEL,
            Box::new(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                ResponseTemplate::new(200)
            }),
        ),
    ]);
    (base, cancels)
}

const CANCELLING_WAIT: [&str; 9] = [
    "--cache-id",
    "c",
    "--trigger",
    "incremental",
    "--timeout",
    "2s",
    "--cancel-on-exit",
    "--output",
    "json",
];

/// A proxy or a WAF that answers the POST with its own page (200,
/// `text/html`, or the same page labelled JSON) never reached Peaka: the
/// run that then appears may be a scheduled one, and is not cancelled.
#[test]
fn a_run_after_a_trigger_answered_by_a_web_page_is_not_cancelled() {
    let page = "<!DOCTYPE html><html><body>Please wait…</body></html>";
    for content_type in ["text/html; charset=utf-8", "application/json"] {
        let (base, cancels) = trigger_answered(
            ResponseTemplate::new(200).set_body_raw(page.as_bytes().to_vec(), content_type),
        );
        let ran = run(&base, &CANCELLING_WAIT);
        let why = format!("the trigger answered 200 {content_type} with a web page");
        assert_code(&ran, 3, &why);
        assert_eq!(
            cancels.load(Ordering::SeqCst),
            0,
            "{why}: a cancel was sent\n{ran}"
        );
        let said = ran.summary()["caches"][0]["cancel"].clone();
        assert!(
            said.as_str()
                .is_some_and(|s| s.starts_with("not sent:") && s.contains("web page")),
            "{why}: the summary says why no cancel: {said}\n{ran}"
        );
    }
}

/// Controls: the answers Peaka may give a trigger (an empty 200, a 202, a
/// 204, a JSON object, JSON after a BOM) make the new run cancellable.
#[test]
fn control_a_run_after_a_trigger_answered_2xx_by_the_api_is_cancelled() {
    let answers = [
        ResponseTemplate::new(200),
        ResponseTemplate::new(202),
        ResponseTemplate::new(204),
        ResponseTemplate::new(200).set_body_json(json!({"status": "started"})),
        ResponseTemplate::new(200)
            .set_body_raw(b"\xEF\xBB\xBF{\"ok\":true}".to_vec(), "application/json"),
    ];
    for (n, answer) in answers.into_iter().enumerate() {
        let (base, cancels) = trigger_answered(answer);
        let ran = run(&base, &CANCELLING_WAIT);
        assert_code(&ran, 3, &format!("trigger answer #{n}"));
        assert_eq!(cancels.load(Ordering::SeqCst), 1, "answer #{n}\n{ran}");
        assert_eq!(
            ran.summary()["caches"][0]["cancel"],
            "accepted",
            "answer #{n}\n{ran}"
        );
    }
}

/// One request's method and path, read from a connection; the rest of
/// its head is skipped (no request of the gate has a body that matters).
pub(super) fn request_line(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
    }
    let mut words = first.split_whitespace();
    Some((words.next()?.to_owned(), words.next()?.to_owned()))
}

pub(super) fn answer(mut stream: &TcpStream, body: &Value) {
    let body = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The trigger could not be sent for `outage` (connection refused: the
/// API restarting) and went out only after a scheduled run `e2` was
/// created and finished in that window. The trigger's time is when it
/// was sent, not when the slot was read before it: `e2` predates it and
/// is not ready, though it is newer than the slot's record at that read.
#[test]
fn a_run_created_while_the_trigger_could_not_be_sent_is_not_the_triggered_one() {
    let outage = Duration::from_secs(9);
    let first = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = first.local_addr().expect("address");
    let baseline_read = Arc::new(std::sync::Mutex::new(None::<Timestamp>));
    let seen = Arc::clone(&baseline_read);
    std::thread::spawn(move || {
        // The baseline read, answered only after the port is closed, so
        // that the trigger that follows finds nothing listening.
        let (stream, _) = first.accept().expect("accept");
        let _ = request_line(&stream);
        drop(first);
        let read_at = Timestamp::now();
        *seen.lock().expect("lock") = Some(read_at);
        answer(&stream, &e1_two_hours_ago());
        drop(stream);
        std::thread::sleep(outage);
        // Back: the scheduled run e2 was created 1.5 s into the outage,
        // and finished a second later.
        let created = read_at + SignedDuration::from_millis(1500);
        let mut e2 = execution("e2", "COMPLETED", 0, Some(0));
        e2["createdAt"] = json!(rfc3339(created));
        e2["updatedAt"] = json!(rfc3339(created + SignedDuration::from_secs(1)));
        e2["finishedAt"] = e2["updatedAt"].clone();
        let after = cache("c", "COMPLETED", e2, Value::Null);
        let again = TcpListener::bind(address).expect("bind the same port again");
        for stream in again.incoming() {
            let Ok(stream) = stream else { continue };
            match request_line(&stream) {
                Some((verb, _)) if verb == "POST" => answer(&stream, &json!({})),
                Some(_) => answer(&stream, &after),
                None => {}
            }
        }
    });
    let base = format!("http://{address}/api/v1");
    let ran = Gate::new(
        &base,
        &[
            "--cache-id",
            "c",
            "--trigger",
            "incremental",
            "--timeout",
            "13s",
        ],
    )
    .kill_after(Duration::from_secs(30))
    .run();
    assert!(baseline_read.lock().expect("lock").is_some(), "{ran}");
    assert_code(
        &ran,
        3,
        "e2 was created during the outage, before the trigger was sent",
    );
    assert!(
        ran.stderr.contains("the slot shows e2") && ran.stderr.contains("before the trigger"),
        "the message says e2 predates the trigger\n{ran}"
    );
}

/// One `Date` header 50 minutes behind, on the read just before the
/// trigger (and only there), must not move the trigger's time back: a
/// correction towards the past needs readings that agree. After the
/// trigger the slot shows `e0`, created 40 minutes ago: newer than the
/// slot's record (2 h old), but from long before the trigger.
#[test]
fn one_date_header_far_behind_before_the_trigger_does_not_admit_an_old_record() {
    let before = e1_two_hours_ago();
    let after = cache(
        "c",
        "COMPLETED",
        execution("e0", "COMPLETED", -40 * 60, Some(-35 * 60)),
        Value::Null,
    );
    let base = serve(vec![
        route(
            "GET",
            STATUS_C,
            Box::new(move |n| {
                if n == 0 {
                    ok(&before).insert_header("date", http_date(at(-50 * 60)).as_str())
                } else {
                    ok(&after)
                }
            }),
        ),
        route("POST", TRIGGER, Box::new(|_| ResponseTemplate::new(200))),
    ]);
    let ran = run(&base, &TRIGGERED_WAIT);
    assert_code(&ran, 3, "a Date 50 min behind once; then e0 of 40 min ago");
    assert!(
        ran.stderr.contains("the slot shows e0, created at")
            && ran.stderr.contains("before the trigger at"),
        "the timeout message says why e0 is not it\n{ran}"
    );
}

/// Control (and the guarantee's other side): a server whose clock really
/// is 10 minutes behind, on every reply, gets its triggered execution
/// counted once the correction is trusted.
#[test]
fn control_a_triggered_execution_on_a_server_whose_clock_is_behind_is_ready() {
    let fake = common::start_fake(fake_peaka::Options {
        clock_offset: SignedDuration::from_mins(-10),
        ..Default::default()
    });
    let (code, stdout, stderr) = common::run(common::gate_at(
        &fake,
        "demo",
        &[
            "--cache-id",
            "triggered-completes-after-200ms~skewed",
            "--trigger",
            "full",
            "--timeout",
            "10s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

/// Held, and kept: after `--trigger incremental`, neither a new full
/// refresh (the other slot) nor the baseline's id shown again with a new
/// `createdAt` (an id reused) is the triggered execution.
#[test]
fn after_a_trigger_the_other_slot_or_a_reused_id_is_not_ready() {
    let old = || execution("e1", "COMPLETED", -2 * HOUR, Some(-2 * HOUR + 300));
    let mut reused = execution("e1", "COMPLETED", 0, Some(1));
    reused["createdAt"] = json!(rfc3339(at(1)));
    let variants = [
        (
            "a new full refresh in the other slot",
            cache(
                "c",
                "COMPLETED",
                old(),
                full_execution("f2", "COMPLETED", 0, Some(1)),
            ),
        ),
        (
            "the baseline's id, created after the trigger",
            cache("c", "COMPLETED", reused, Value::Null),
        ),
    ];
    for (what, after) in variants {
        let before = e1_two_hours_ago();
        let base = serve(vec![
            route(
                "GET",
                STATUS_C,
                Box::new(move |n| ok(if n == 0 { &before } else { &after })),
            ),
            route("POST", TRIGGER, Box::new(|_| ResponseTemplate::new(200))),
        ]);
        let ran = run(&base, &TRIGGERED_WAIT);
        assert_code(&ran, 3, what);
    }
}

/// A server that answers every request with headers and then one byte of
/// whitespace every 100 ms, for ever.
pub(super) fn trickle_forever() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                if request_line(&stream).is_none() {
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n[";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                while stream.write_all(b" ").is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    format!("http://{address}/api/v1")
}

/// Held, and kept: a reply that never ends, at every step of every path
/// (the status, the project list, the catalog list, `--table`,
/// `--list-caches`, the read before a trigger), costs no more than the
/// deadline: the run ends within `--timeout` + 1 s, not ready, without
/// the key.
#[test]
fn a_reply_that_never_ends_costs_no_more_than_the_deadline_on_every_path() {
    let paths: [&[&str]; 7] = [
        &["--cache-id", "c"],
        &["--cache-id", "a", "--cache-id", "b"],
        &["--all-caches"],
        &["--list-caches"],
        &["--table", "public.orders"],
        &["--catalog-id", "cat-1", "--schema", "public"],
        &["--cache-id", "c", "--trigger", "incremental"],
    ];
    std::thread::scope(|scope| {
        let runs: Vec<_> = paths
            .iter()
            .map(|args| {
                scope.spawn(move || {
                    let base = trickle_forever();
                    let args = [*args, &["--timeout", "3s"]].concat();
                    (
                        args.join(" "),
                        Gate::new(&base, &args)
                            .kill_after(Duration::from_secs(10))
                            .run(),
                    )
                })
            })
            .collect();
        for run in runs {
            let (what, ran) = run.join().expect("run thread");
            assert!(!ran.killed && ran.code != 0, "{what}\n{ran}");
            assert!(
                ran.took <= Duration::from_millis(4300),
                "{what}: past --timeout + 1 s\n{ran}"
            );
            for (name, text) in ran.everything() {
                assert!(!text.contains(KEY), "{what}: the key in {name}\n{ran}");
            }
        }
    });
}

/// Every request, on any path, answered `answer`.
fn serve_any(answer: ResponseTemplate) -> String {
    serve_forever(move || async move {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(answer)
            .mount(&server)
            .await;
        let base = format!("{}/api/v1", server.uri());
        std::mem::forget(server);
        Ok(base)
    })
}

/// Held, and kept: `429` for ever, with a `Retry-After` that is huge, a
/// date far ahead, negative, a date in the past or garbage, is retried to
/// the deadline on every path and ends `timeout` (3) within `--timeout` +
/// 1 s: never a panic, never a sleep past the deadline, never an early
/// end of what may fix itself.
#[test]
fn retry_after_of_any_kind_never_moves_the_end_past_the_deadline() {
    let values = [
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "-5",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "soon",
    ];
    let paths: [&[&str]; 4] = [
        &["--cache-id", "c"],
        &["--all-caches"],
        &["--list-caches"],
        &["--cache-id", "c", "--trigger", "incremental"],
    ];
    std::thread::scope(|scope| {
        let mut runs = Vec::new();
        for value in values {
            for args in paths {
                runs.push(scope.spawn(move || {
                    let base =
                        serve_any(ResponseTemplate::new(429).insert_header("retry-after", value));
                    let args = [args, &["--timeout", "2s"]].concat();
                    let what = format!("Retry-After {value}: {}", args.join(" "));
                    (
                        what,
                        Gate::new(&base, &args)
                            .kill_after(Duration::from_secs(10))
                            .run(),
                    )
                }));
            }
        }
        for run in runs {
            let (what, ran) = run.join().expect("run thread");
            assert_code(&ran, 3, &what);
            assert!(
                ran.took <= Duration::from_millis(3300),
                "{what}: past --timeout + 1 s\n{ran}"
            );
        }
    });
}

#[test]
fn the_never_picked_up_warning_shows_a_long_id_bounded_on_every_output() {
    let id = format!("e{}\u{1b}[31m", "x".repeat(3900));
    let mut untouched = execution(&id, "RUNNING", -600, None);
    untouched["progress"] = Value::Null;
    untouched["updatedAt"] = untouched["createdAt"].clone();
    let base = serve_status(cache("c", "RUNNING", untouched, Value::Null));
    let ran = Gate::new(
        &base,
        &["--cache-id", "c", "--timeout", "2s", "--output", "json"],
    )
    .run();
    assert_eq!(ran.code, 3, "{ran}");
    assert!(ran.stderr.contains("has not been picked up"), "{ran}");
    // The JSON summary's `execution.id` is data (bounded by the decoder
    // at 4 KiB); every sentence that names the id shows it bounded.
    assert!(ran.stdout.contains("::warning"), "{ran}");
    for (name, text) in ran.everything() {
        assert!(!text.contains('\u{1b}'), "{name} holds a raw escape");
        for line in text.lines().filter(|l| l.contains("picked up")) {
            assert!(
                !line.contains(&"x".repeat(1001)),
                "{name} shows more than 1,000 characters of the id"
            );
        }
    }
}
