//! Fault injection as a client sees it, and its determinism.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use hedui_simulator::{FaultConfig, FaultKind};

fn only(kind: FaultKind, seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        rates: BTreeMap::from([(kind, 1.0)]),
        slow_ms: 400,
        timeout_ms: 60_000,
        ..FaultConfig::none()
    }
}

#[tokio::test]
async fn each_fault_kind_is_observable() {
    let r = start(options()).await;
    let path = records_path("gongan/population");

    // 5xx: an error status with an error body.
    r.sim.set_faults(only(FaultKind::ServerError, 1)).unwrap();
    for _ in 0..5 {
        let resp = bearer_get(&r, &path).send().await.unwrap();
        let status = resp.status().as_u16();
        assert!([500, 502, 503].contains(&status), "{status}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["code"].as_u64(), Some(u64::from(status)));
    }

    // timeout: the client gives up.
    r.sim.set_faults(only(FaultKind::Timeout, 1)).unwrap();
    let started = Instant::now();
    let err = bearer_get(&r, &path)
        .timeout(Duration::from_millis(700))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(700));

    // slow: the response comes, late.
    r.sim.set_faults(only(FaultKind::Slow, 1)).unwrap();
    let started = Instant::now();
    let resp = bearer_get(&r, &format!("{path}?limit=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["data"]["records"].as_array().unwrap().len(), 3);

    // truncate: the body is incomplete and does not parse.
    r.sim.set_faults(only(FaultKind::Truncate, 1)).unwrap();
    let resp = bearer_get(&r, &format!("{path}?limit=200"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    match resp.bytes().await {
        Err(_) => {}
        Ok(bytes) => {
            assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
        }
    }
    let resp = bearer_get(&r, &format!("{path}?limit=200&format=csv"))
        .send()
        .await
        .unwrap();
    assert!(resp.bytes().await.is_err(), "CSV body cut short");

    // duplicate: the page repeats records at or below `since`.
    r.sim.set_faults(only(FaultKind::Duplicate, 1)).unwrap();
    let v = page(&r, "gongan/population", 100, 20).await;
    let seqs: Vec<u64> = v["data"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["_seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.iter().any(|&s| s <= 100), "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seqs.first(), Some(&91));
    assert_eq!(v["data"]["next_since"].as_u64(), seqs.last().copied());
    // From the beginning there is nothing to repeat.
    let v = page(&r, "gongan/population", 0, 5).await;
    assert_eq!(v["data"]["records"][0]["_seq"], 1);

    // drift: headers renamed in JSON, CSV and the dataset list, until cleared.
    let mut drift = FaultConfig::none();
    drift
        .drift
        .push(FaultConfig::parse_drift("gongan/population:姓名=名称").unwrap());
    r.sim.set_faults(drift).unwrap();
    let v = page(&r, "gongan/population", 0, 5).await;
    for rec in v["data"]["records"].as_array().unwrap() {
        assert!(rec.get("姓名").is_none());
        assert!(rec["名称"].is_string());
    }
    let csv = bearer_get(&r, &format!("{path}?limit=1&format=csv"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (text, _, _) = encoding_rs::GB18030.decode(&csv);
    let header = text.lines().next().unwrap();
    assert!(header.contains("名称") && !header.contains("姓名"));
    let list: serde_json::Value = bearer_get(&r, "/api/v1/datasets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pop = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == "population")
        .unwrap();
    assert!(
        pop["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "名称")
    );
    // Other datasets are untouched.
    let v = page(&r, "gongan/vehicles", 0, 2).await;
    assert!(v["data"]["records"][0].get("记录编号").is_some());

    // Clearing through the admin endpoint with `{}`.
    let resp = r
        .client
        .post(format!("{}/admin/faults", r.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = page(&r, "gongan/population", 0, 5).await;
    assert!(v["data"]["records"][0]["姓名"].is_string());

    let stats: serde_json::Value = r
        .client
        .get(format!("{}/admin/stats", r.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let faults = &stats["data"]["faults"];
    for kind in ["5xx", "timeout", "slow", "truncate", "duplicate"] {
        assert!(faults[kind].as_u64().unwrap_or(0) >= 1, "{kind}: {stats}");
    }
    assert_eq!(faults["5xx"], 5);
    assert!(stats["data"]["drifted_responses"].as_u64().unwrap() >= 2);
    r.server.shutdown().await.unwrap();
}

/// The statuses (or "timeout"/"truncated"/"duplicate") of 60 sequential requests.
async fn fault_sequence(r: &Running) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..60u64 {
        let since = 10 + i;
        let resp = bearer_get(
            r,
            &format!("{}?since={since}&limit=4", records_path("gongan/vehicles")),
        )
        .timeout(Duration::from_millis(300))
        .send()
        .await;
        let outcome = match resp {
            Err(e) if e.is_timeout() => "timeout".to_owned(),
            Err(e) => format!("error {e}"),
            Ok(resp) if resp.status() != 200 => resp.status().as_str().to_owned(),
            Ok(resp) => match resp.bytes().await {
                Err(_) => "truncated".to_owned(),
                Ok(b) => match serde_json::from_slice::<serde_json::Value>(&b) {
                    Err(_) => "truncated".to_owned(),
                    Ok(v) => {
                        let first = v["data"]["records"][0]["_seq"].as_u64().unwrap();
                        if first <= since {
                            "duplicate".to_owned()
                        } else {
                            "ok".to_owned()
                        }
                    }
                },
            },
        };
        out.push(outcome);
    }
    out
}

#[tokio::test]
async fn same_seed_same_fault_sequence() {
    let r = start(options()).await;
    let setting = |seed| FaultConfig {
        seed,
        rates: FaultConfig::parse_rates("5xx=0.15,timeout=0.1,truncate=0.1,duplicate=0.15")
            .unwrap(),
        timeout_ms: 60_000,
        ..FaultConfig::none()
    };
    // Through the admin endpoint (which restarts the request numbering) and the library.
    let body = serde_json::to_string(&setting(7)).unwrap();
    let resp = r
        .client
        .post(format!("{}/admin/faults", r.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = fault_sequence(&r).await;
    r.sim.set_faults(setting(7)).unwrap();
    let second = fault_sequence(&r).await;
    assert_eq!(first, second);
    for kind in ["500", "timeout", "truncated", "duplicate", "ok"] {
        let n = first
            .iter()
            .filter(|o| o.starts_with(kind.get(..2).unwrap_or(kind)))
            .count();
        assert!(n > 0, "{kind} never happened: {first:?}");
    }
    r.sim.set_faults(setting(8)).unwrap();
    let other = fault_sequence(&r).await;
    assert_ne!(first, other, "another seed, another sequence");
    // Bad settings are refused.
    let resp = r
        .client
        .post(format!("{}/admin/faults", r.base))
        .body(r#"{"rates":{"5xx":2.0}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = r
        .client
        .post(format!("{}/admin/faults", r.base))
        .body(r#"{"rates":{"meteor":0.1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    r.server.shutdown().await.unwrap();
}
