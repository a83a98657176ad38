use super::*;

#[test]
fn decodes_the_live_shape_with_nulls_and_milliseconds() {
    let body = br#"{
            "id": "c1", "status": "RUNNING", "catalogId": "x", "somethingNew": [1, 2],
            "lastIncrementalCacheExecution": {
                "id": "e1", "executionMode": "INCREMENTAL", "status": "COMPLETED",
                "error": null,
                "progress": {"numberOfCachedRecords": 1200, "numberOfInsertedRecords": 3,
                             "numberOfUpdatedRecords": 0, "numberOfDeletedRecords": 0,
                             "lastOffset": "9", "lastCacheTxId": null},
                "createdAt": "2026-07-29T03:50:00Z",
                "updatedAt": "2026-07-29T03:51:48.591Z",
                "finishedAt": "2026-07-29T03:51:48.591+00:00"
            },
            "lastFullRefreshCacheExecution": null
        }"#;
    let status = decode_status(body).unwrap();
    assert_eq!(status.status, Status::Running);
    assert!(status.last_full_refresh_cache_execution.is_none());
    let e = status.execution(ExecutionKind::Incremental).unwrap();
    assert_eq!(e.id.as_deref(), Some("e1"));
    assert_eq!(e.status, Some(Status::Completed));
    assert_eq!(e.records(), Some(1200));
    assert_eq!(
        e.finished_at,
        Stamp::At("2026-07-29T03:51:48.591Z".parse().unwrap())
    );
    assert_eq!(e.terminal_at(), e.finished_at.at());
    assert_eq!(e.error_text(), None);
}

#[test]
fn odd_fields_degrade_to_absent_instead_of_failing() {
    let body = br#"{"status": "SOMETHING_NEW",
            "lastFullRefreshCacheExecution": {
                "id": 42, "status": "CANCELED", "progress": "n/a",
                "createdAt": "yesterday", "updatedAt": "2026-07-29T03:51:48Z", "finishedAt": null,
                "error": {"message": "source timed out", "code": 7}
            }}"#;
    let status = decode_status(body).unwrap();
    assert_eq!(status.status, Status::Other("SOMETHING_NEW".into()));
    let e = status.execution(ExecutionKind::Full).unwrap();
    assert_eq!(e.id.as_deref(), Some("42"));
    assert_eq!(e.status, Some(Status::Cancelled));
    assert_eq!(e.progress, None);
    assert_eq!(e.created_at, None);
    assert!(e.updated_at.is_some());
    // Terminal without finishedAt: its last update is when it ended.
    assert_eq!(e.terminal_at(), e.updated_at);
    assert_eq!(e.error_text().as_deref(), Some("source timed out"));
}

#[test]
fn numbers_no_machine_type_holds_spoil_only_their_field() {
    let body = "\u{feff}{\"status\": \"COMPLETED\", \"extra\": 1e400,
            \"lastIncrementalCacheExecution\": {\"id\": \"e1\", \"status\": \"COMPLETED\",
                \"progress\": {\"numberOfCachedRecords\": 1e400, \"numberOfInsertedRecords\": 7},
                \"error\": {\"code\": 1e400},
                \"createdAt\": 1e30, \"updatedAt\": 1764000000000,
                \"finishedAt\": \"2026-11-23T10:00:00.123456\"}}";
    let status = decode_status(body.as_bytes()).unwrap();
    let e = status.execution(ExecutionKind::Incremental).unwrap();
    assert_eq!(e.records(), None);
    assert!(
        e.progress.is_some(),
        "the other counters still make a progress"
    );
    assert_eq!(e.created_at, None, "a number is not a time");
    assert_eq!(e.updated_at, None, "a number is not a time");
    assert_eq!(
        e.finished_at,
        Stamp::At("2026-11-23T10:00:00.123456Z".parse().unwrap()),
        "the zone-less form is UTC"
    );
    assert!(e.error.is_some());
}

#[test]
fn an_unreadable_finish_is_not_replaced_by_the_last_update() {
    let body = br#"{"status": "COMPLETED", "lastFullRefreshCacheExecution": {
            "status": "COMPLETED", "updatedAt": "2026-11-24T10:00:00Z", "finishedAt": "yesterday"}}"#;
    let status = decode_status(body).unwrap();
    let e = status.execution(ExecutionKind::Full).unwrap();
    assert_eq!(e.finished_at, Stamp::Unreadable);
    assert_eq!(e.terminal_at(), None);
    let absent = Execution {
        finished_at: Stamp::Absent,
        ..e.clone()
    };
    assert_eq!(absent.terminal_at(), absent.updated_at);
}

#[test]
fn times_after_the_latest_plausible_one_are_forgotten() {
    let latest: Timestamp = "2026-11-25T00:00:00Z".parse().unwrap();
    let mut e = Execution {
        status: Some(Status::Completed),
        created_at: Some("9999-01-01T00:00:00Z".parse().unwrap()),
        updated_at: Some("2026-11-24T00:00:00Z".parse().unwrap()),
        finished_at: Stamp::At("9999-01-01T00:00:00Z".parse().unwrap()),
        ..Execution::default()
    };
    e.forget_times_after(latest);
    assert_eq!(e.created_at, None);
    assert!(e.updated_at.is_some());
    assert_eq!(e.finished_at, Stamp::Unreadable);
    assert_eq!(e.terminal_at(), None);
}

#[test]
fn a_reply_that_is_not_a_cache_status_is_an_error() {
    for body in [
        &b"<html>502</html>"[..],
        b"{}",
        b"[]",
        b"{\"status\": null}",
        b"{\"status\": \"RUN",
    ] {
        assert!(
            decode_status(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn execution_modes_name_their_slot() {
    use ExecutionKind::*;
    for (mode, want) in [
        ("INCREMENTAL", Some(Incremental)),
        ("incremental_sync", Some(Incremental)),
        ("FULL_REFRESH", Some(Full)),
        ("FullRefresh", Some(Full)),
        ("MANUAL", None),
    ] {
        assert_eq!(ExecutionKind::from_mode(mode), want, "{mode}");
    }
    let history = decode_history(br#"[{"id":"e2","executionMode":"FULL_REFRESH","status":"RUNNING"},{"id":"e1","status":"COMPLETED"}]"#, 50).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].execution_mode.as_deref(), Some("FULL_REFRESH"));
    assert!(decode_history(b"{}", 50).is_err());
}

#[test]
fn a_history_is_read_only_as_far_as_its_limit() {
    let mut body = String::from("\u{feff}[{\"id\":\"e1\"},{\"id\":\"e2\"}");
    // What follows the limit is skipped whatever it holds...
    for _ in 0..1000 {
        body.push_str(",{},[1,2],\"x\",{\"error\":[0,0]}");
    }
    body.push(']');
    let history = decode_history(body.as_bytes(), 2).unwrap();
    let ids: Vec<_> = history.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, [Some("e1"), Some("e2")]);
    assert_eq!(decode_history(body.as_bytes(), 0).unwrap(), []);
    // ...but must still be JSON, and what is read must be objects.
    assert!(decode_history(b"[{},{},}", 1).is_err());
    assert!(decode_history(b"[{}] x", 1).is_err());
    let positional = decode_history(br#"[["e9","INCREMENTAL","COMPLETED"]]"#, 5).unwrap_err();
    assert!(
        positional.contains("entry 1: not a JSON object"),
        "{positional}"
    );
}

#[test]
fn error_text_of_every_shape() {
    let with = |error: &str| {
        let body =
            format!(r#"{{"status":"FAILED","lastFullRefreshCacheExecution":{{"error":{error}}}}}"#);
        let status = decode_status(body.as_bytes()).unwrap();
        status.execution(ExecutionKind::Full).unwrap().error_text()
    };
    assert_eq!(with("null"), None);
    assert_eq!(with("\"boom\"").as_deref(), Some("boom"));
    assert_eq!(with("{}"), None);
    assert_eq!(with(r#"{"code": 1}"#).as_deref(), Some("{\"code\":1}"));
    assert_eq!(with("[1]").as_deref(), Some("[1]"));
    let huge = format!("[{}0]", "0,".repeat(500_000));
    let text = with(&huge).unwrap();
    assert!(text.starts_with("[0,0,"), "{}", &text[..20]);
    assert!(text.len() < 5000, "{}", text.len());
}

#[test]
fn a_key_across_the_cut_of_a_long_error_is_scrubbed_whole() {
    let key = "sk-live-0123456789abcdef";
    for before in [4080, 4090, 4095, 8180] {
        let error = format!("{}{key}{}", "x".repeat(before), "y".repeat(20_000));
        let body = format!(
            r#"{{"status":"FAILED","lastFullRefreshCacheExecution":{{"error":"{error}"}}}}"#
        );
        let mut status = decode_status(body.as_bytes()).unwrap();
        status.scrub(&Scrubber::new(key));
        let text = status
            .execution(ExecutionKind::Full)
            .unwrap()
            .error_text()
            .unwrap();
        assert!(
            !text.contains("sk-live-0123"),
            "{before}: {}",
            &text[4000..]
        );
        assert!(text.ends_with("(cut at 4096 characters)"), "{before}");
    }
}

#[test]
fn a_status_or_an_execution_is_an_object_never_an_array() {
    for body in [
            &br#"["a","COMPLETED",null,null,null,null,null]"#[..],
            br#"{"id":"a","status":"RUNNING","lastIncrementalCacheExecution":["e1","INCREMENTAL","COMPLETED"]}"#,
        ] {
            assert!(decode_status(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    let list =
        decode_status_list(br#"[{"id":"b","status":"RUNNING"},["a","COMPLETED"]]"#).unwrap_err();
    assert!(list.contains("entry 2: not a cache status"), "{list}");
    // Progress read by position would be a record count.
    let status = decode_status(br#"{"status":"RUNNING","lastIncrementalCacheExecution":{"status":"RUNNING","progress":[5]}}"#).unwrap();
    assert_eq!(
        status
            .execution(ExecutionKind::Incremental)
            .unwrap()
            .progress,
        None
    );
}

#[test]
fn fields_longer_than_any_real_one_are_unreadable() {
    let long = "x".repeat(crate::wire::MAX_FIELD_BYTES + 1);
    let body = format!(
        r#"{{"id":"{long}","status":"{long}","tableName":"{long}","lastFullRefreshCacheExecution":{{"id":"{long}","status":"COMPLETED","createdAt":"{long}","progress":{{"numberOfCachedRecords":"{long}"}}}}}}"#
    );
    let status = decode_status(body.as_bytes()).unwrap();
    assert_eq!(status.id, None);
    assert_eq!(status.table_name, None);
    assert_eq!(
        status.status,
        Status::Other(format!("(a status of {} bytes)", long.len() + 2))
    );
    let e = status.execution(ExecutionKind::Full).unwrap();
    assert_eq!(
        (e.id.as_deref(), e.created_at, e.records()),
        (None, None, None)
    );
}

#[test]
fn error_messages_of_every_published_shape() {
    let table: [(&[u8], Option<&str>); 5] = [
            (br#"{"errorCode":100,"message":"Invalid project"}"#, Some("Invalid project")),
            (br#"{"error":"WrongRequestException","message":"Cache settings not found","errorCode":null}"#, Some("Cache settings not found")),
            (br#"{"error":"X","message":"denied","errorCode":"cn004"}"#, Some("denied")),
            (br#"{"error":"X"}"#, None),
            (b"not json", None),
        ];
    for (body, want) in table {
        assert_eq!(error_message(body).as_deref(), want);
    }
}
