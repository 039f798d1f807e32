//! The run report: one self-contained HTML page in Simplified Chinese (no scripts, no external
//! files; charts are inline SVG) with per-stage counts and times, data quality per department,
//! the match-weight histogram and link-quality breakdown, and flags by type and district.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use hedui_verify::report::esc;

use crate::run::{RunState, Stage};

/// Data quality of one dataset in the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetQuality {
    /// `department/dataset`.
    pub dataset: String,
    /// Rows read.
    pub read: u64,
    /// Rows written to the lake.
    pub written: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Most frequent quarantine reasons with counts.
    pub top_reasons: Vec<(String, u64)>,
}

/// Everything the report shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// Data quality per dataset (ingest stage).
    pub quality: Vec<DatasetQuality>,
    /// Histogram of match weights of scored links: (bin lower edge, count), bins of 2.
    pub weight_histogram: Vec<(i32, u64)>,
    /// Links by kind (`exact_id`, `fuzzy` …).
    pub link_kinds: BTreeMap<String, u64>,
    /// New flags by type.
    pub flags_by_type: BTreeMap<String, u64>,
    /// New flags by county (name).
    pub flags_by_district: BTreeMap<String, u64>,
    /// Flags kept from earlier runs (same evidence), and suppressed (dismissed before).
    pub flags_unchanged: u64,
    /// Flags not raised again because a caseworker dismissed them.
    pub flags_suppressed: u64,
    /// Persons in the index and records indexed.
    pub persons: u64,
    /// Records in the index.
    pub records_indexed: u64,
}

/// Horizontal bar chart as inline SVG.
fn bars(rows: &[(String, u64)], colour: &str) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">（无）</p>".to_owned();
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let h = 22 * rows.len() + 6;
    let mut s = format!(
        "<svg class=\"chart\" width=\"640\" height=\"{h}\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 4 + 22 * i;
        let w = ((*v as f64 / max) * 380.0).round().max(1.0);
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\">{l}</text><rect x=\"200\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"{colour}\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"12\">{v}</text>",
            ty = y + 13,
            l = esc(label),
            tx = 206.0 + w,
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical histogram as inline SVG.
fn histogram(bins: &[(i32, u64)]) -> String {
    if bins.is_empty() {
        return "<p class=\"muted\">（本次没有新的关联）</p>".to_owned();
    }
    let max = bins.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let bw = (600 / bins.len()).clamp(6, 40);
    let width = bw * bins.len() + 40;
    let mut s = format!(
        "<svg class=\"chart\" width=\"{width}\" height=\"200\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (lo, n)) in bins.iter().enumerate() {
        // Log scale: exact-ID links outnumber fuzzy ones by orders of magnitude.
        let hgt = if *n == 0 {
            0.0
        } else {
            ((*n as f64).ln_1p() / max.ln_1p() * 160.0).max(1.0)
        };
        let x = 20 + bw * i;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{w}\" height=\"{hgt:.1}\" fill=\"#4a78b5\"><title>权重 {lo}～{hi}：{n}</title></rect>",
            y = 170.0 - hgt,
            w = bw.saturating_sub(1),
            hi = lo + 2,
        );
        if i % 3 == 0 {
            let _ = write!(s, "<text x=\"{x}\" y=\"188\" font-size=\"10\">{lo}</text>");
        }
    }
    s.push_str("</svg>");
    s
}

/// Renders the report.
pub fn render(state: &RunState, data: &ReportData) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>核对运行报告 {id}</title>\
<style>body{{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:24px;color:#222}}\
table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}\
th{{background:#eef2f7}}td:first-child,th:first-child{{text-align:left}}h2{{border-bottom:2px solid #4a78b5;padding-bottom:4px}}\
.muted{{color:#777}}</style></head><body>",
        id = esc(&state.run_id)
    );
    let _ = write!(
        h,
        "<h1>居民家庭经济状况核对 · 运行报告</h1><p>运行编号 {id}；核对基准日 {asof}；开始 {start}；{fin}</p>",
        id = esc(&state.run_id),
        asof = state.as_of,
        start = state.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        fin = match state.finished_at {
            Some(t) => format!("完成 {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
            None => "未完成".to_owned(),
        }
    );
    if let Some(prev) = &state.previous_run {
        let _ = write!(h, "<p>对比上次运行：{}</p>", esc(prev));
    }

    h.push_str("<h2>各阶段</h2><table><tr><th>阶段</th><th>耗时（秒）</th><th>接收</th><th>写入</th><th>隔离</th><th>关联</th><th>新标记</th><th>内存峰值（MiB）</th></tr>");
    for stage in Stage::ALL {
        match state.counters(stage) {
            Some(c) => {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    stage.label_zh(),
                    c.seconds,
                    c.received,
                    c.written,
                    c.quarantined,
                    c.linked,
                    c.flagged,
                    c.peak_rss_mib.map(|m| m.to_string()).unwrap_or_default()
                );
            }
            None => {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td colspan=\"7\" class=\"muted\">未运行</td></tr>",
                    stage.label_zh()
                );
            }
        }
    }
    h.push_str("</table>");

    h.push_str("<h2>各部门数据质量</h2><table><tr><th>数据集</th><th>读取</th><th>写入</th><th>隔离</th><th>隔离率</th><th>主要隔离原因</th></tr>");
    for q in &data.quality {
        let rate = if q.read == 0 {
            0.0
        } else {
            q.quarantined as f64 / q.read as f64 * 100.0
        };
        let reasons: Vec<String> = q
            .top_reasons
            .iter()
            .map(|(r, n)| format!("{}（{n}）", esc(r)))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rate:.2}%</td><td style=\"text-align:left\">{}</td></tr>",
            esc(&dataset_label_zh(&q.dataset)),
            q.read,
            q.written,
            q.quarantined,
            reasons.join("；")
        );
    }
    h.push_str("</table>");

    let _ = write!(
        h,
        "<h2>身份关联</h2><p>人员索引：{} 人，{} 条记录。</p><h3>匹配权重分布（对数刻度）</h3>{}<h3>关联方式</h3>{}",
        data.persons,
        data.records_indexed,
        histogram(&data.weight_histogram),
        bars(
            &data
                .link_kinds
                .iter()
                .map(|(k, v)| (link_kind_label_zh(k).to_owned(), *v))
                .collect::<Vec<_>>(),
            "#6a9f58"
        )
    );

    let total: u64 = data.flags_by_type.values().sum();
    let _ = write!(
        h,
        "<h2>核对标记</h2><p>本次新标记 {total} 条；与以往相同证据未重复标记 {}；已被经办人判为误报而不再标记 {}。</p><h3>按类型</h3>{}<h3>按区县</h3>{}",
        data.flags_unchanged,
        data.flags_suppressed,
        bars(
            &data
                .flags_by_type
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect::<Vec<_>>(),
            "#c0504d"
        ),
        bars(
            &data
                .flags_by_district
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect::<Vec<_>>(),
            "#d08a2c"
        )
    );
    h.push_str("<p class=\"muted\">本报告不含身份证号码和姓名。</p></body></html>");
    h
}

/// Chinese label of a `department/dataset`.
pub fn dataset_label_zh(dataset: &str) -> String {
    let (dept, ds) = dataset.split_once('/').unwrap_or((dataset, ""));
    let d = match dept {
        "gongan" => "公安",
        "weijian" => "卫健",
        "renshe" => "人社",
        "zhujian" => "住建",
        "minzheng" => "民政",
        other => other,
    };
    let s = match ds {
        "population" => "人口信息",
        "vehicles" => "机动车",
        "births" => "出生医学证明",
        "deaths" => "死亡医学证明",
        "hospital_stays" => "住院费用",
        "contributions" => "参保缴费",
        "pensions" => "养老金发放",
        "unemployment" => "失业保险金",
        "property" => "不动产登记",
        "housing_fund" => "住房公积金",
        "cases" => "救助对象",
        "members" => "家庭成员",
        "authorizations" => "核对授权",
        "applications" => "救助申请",
        "application_members" => "申请家庭成员",
        other => other,
    };
    format!("{d} {s}")
}

/// Chinese label of a link kind.
pub fn link_kind_label_zh(kind: &str) -> &str {
    match kind {
        "register" => "人口库记录",
        "exact_id" => "身份证号一致",
        "id_normalized" => "身份证号规范化后一致",
        "id_15_upgraded" => "15位号升位后一致",
        "fuzzy" => "模糊匹配（待确认身份）",
        "same_id_unregistered" => "未在人口库，同号归并",
        "singleton" => "未匹配，单独建档",
        "reviewed" => "人工确认",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::run::StageCounters;
    use chrono::{NaiveDate, TimeZone, Utc};

    #[test]
    fn report_is_self_contained_escaped_and_complete() {
        let state = RunState {
            run_id: "20261130T013000Z".into(),
            as_of: NaiveDate::from_ymd_opt(2021, 9, 30).unwrap(),
            started_at: Utc.with_ymd_and_hms(2026, 11, 30, 1, 30, 0).unwrap(),
            finished_at: None,
            completed: vec![(
                Stage::Ingest,
                StageCounters {
                    seconds: 1.5,
                    received: 100,
                    written: 98,
                    quarantined: 2,
                    ..Default::default()
                },
            )],
            previous_run: Some("20261129T013000Z".into()),
        };
        let data = ReportData {
            quality: vec![DatasetQuality {
                dataset: "renshe/contributions".into(),
                read: 100,
                written: 98,
                quarantined: 2,
                top_reasons: vec![("<script>".into(), 2)],
            }],
            weight_histogram: vec![(10, 5), (12, 90)],
            link_kinds: [("exact_id".to_owned(), 90u64), ("fuzzy".to_owned(), 5)].into(),
            flags_by_type: [("DYN-DEATH".to_owned(), 3u64)].into(),
            flags_by_district: [("曾都区".to_owned(), 3u64)].into(),
            ..Default::default()
        };
        let html = render(&state, &data);
        assert!(html.contains("人社 参保缴费"));
        assert!(html.contains("&lt;script&gt;"), "reasons are escaped");
        assert!(!html.contains("<script"), "no scripts");
        assert!(html.contains("<svg"), "charts are inline SVG");
        assert!(html.contains("DYN-DEATH") && html.contains("曾都区"));
        assert!(html.contains("未运行"), "stages not run are shown as such");
    }
}
