"""``report.html``: the audit for a person to read and print, in Korean and English.

One self-contained page: no script, no stylesheet, font or image from anywhere else; the charts
are inline SVG drawn here. Every label is given in both languages (Korean first); a switch at the
top (radio buttons and CSS, no script) shows both, Korean only or English only, and printing keeps
the choice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from .report import FINDING_KINDS

if TYPE_CHECKING:
    from .report import AuditReport

__all__ = ["render_html"]

#: Rows shown in a long table before "and N more" (records.csv has every row).
_MAX_ROWS = 200

_CSS = """
:root { --ink:#1d2330; --muted:#5b6475; --line:#d8dce3; --ok:#1b7f3b; --bad:#b3261e; --warn:#9a6700;
        --bar:#2f6fb3; --bar2:#c0562b; --bar3:#6b8e23; --bg:#fff; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", system-ui, sans-serif;
       color: var(--ink); background: var(--bg); margin: 0 auto; max-width: 1100px; padding: 24px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 4px; } h2 { font-size: 1.25rem; border-bottom: 2px solid var(--ink);
     padding-bottom: 4px; margin-top: 36px; page-break-after: avoid; } h3 { font-size: 1.05rem; margin: 20px 0 6px; }
.en { color: var(--muted); } .ko + .en::before { content: " / "; } p .ko + .en::before, li .ko + .en::before,
td .ko + .en::before { content: ""; } p .en, li .en, td .en { display: block; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: .86rem; page-break-inside: auto; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f2f4f7; overflow-wrap: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .8rem;
               word-break: break-all; }
.verdict { padding: 12px 16px; border-radius: 6px; margin: 16px 0; font-size: 1.1rem; font-weight: 600; }
.verdict.clean { background: #e7f4ea; color: var(--ok); border: 1px solid var(--ok); }
.verdict.dirty { background: #fbeaea; color: var(--bad); border: 1px solid var(--bad); }
.passed { color: var(--ok); font-weight: 600; } .failed { color: var(--bad); font-weight: 600; }
.skipped { color: var(--muted); } .warning { color: var(--warn); font-weight: 600; }
.error { color: var(--bad); font-weight: 600; }
.full { color: var(--ok); font-weight: 600; } .partial { color: var(--warn); font-weight: 600; }
.mismatch, .missing { color: var(--bad); font-weight: 600; }
.charts { display: grid; grid-template-columns: 1fr; gap: 18px; }
figure { margin: 0; page-break-inside: avoid; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg { max-width: 100%; height: auto; } svg text { font-family: inherit; font-size: 11px; fill: var(--ink); }
.switch { float: right; font-size: .85rem; border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; }
.switch label { margin-left: 6px; cursor: pointer; }
body:has(#lang-ko:checked) .en { display: none !important; }
body:has(#lang-en:checked) .ko { display: none !important; }
body:has(#lang-ko:checked) .ko + .en::before, body:has(#lang-en:checked) .ko + .en::before { content: ""; }
details summary { cursor: pointer; color: var(--muted); }
.meta td:first-child { width: 28%; }
.small { font-size: .8rem; color: var(--muted); }
@media print { .switch { display: none; } body { padding: 0; max-width: none; } h2 { page-break-before: auto; }
  details { display: block; } details > *:not(summary) { display: block; }
  a { color: inherit; text-decoration: none; } }
"""


def _t(ko: str, en: str) -> str:
    """A label in both languages."""
    return f'<span class="ko" lang="ko">{escape(ko)}</span><span class="en" lang="en">{escape(en)}</span>'


def _para(ko: str, en: str, css: str = "") -> str:
    """A paragraph in both languages."""
    return f'<p class="{css}">{_t(ko, en)}</p>' if css else f"<p>{_t(ko, en)}</p>"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else escape(str(value))


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _short(address: str | None) -> str:
    if not address:
        return ""
    return f'<code title="{escape(address)}">{escape(address[:8])}…{escape(address[-6:])}</code>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{h}</th>' for i, h in enumerate(headers))
    body = []
    for row in rows[:_MAX_ROWS]:
        body.append(
            "<tr>"
            + "".join(f'<td class="{"num" if i in numeric else ""}">{c}</td>' for i, c in enumerate(row))
            + "</tr>"
        )
    more = ""
    if len(rows) > _MAX_ROWS:
        rest = len(rows) - _MAX_ROWS
        more = _para(f"외 {rest:,}건: records.csv 참조", f"and {rest:,} more: see records.csv", "small")
    if not rows:
        return f'<p class="small">{_t("없음", "None")}</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


# ---------------------------------------------------------------------- charts (inline SVG)


def _nice_max(value: float) -> float:
    """The axis maximum: the first of 1, 2, 2.5, 5, 10 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** (len(str(int(value))) - 1)
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * magnitude >= value:
            return step * magnitude
    return 10.0 * magnitude


def _column_chart(label: str, items: Sequence[tuple[str, int]], color: str = "var(--bar)") -> str:
    """Vertical bars (one per item, e.g. per week) with a value axis."""
    if not items:
        return f'<p class="small">{_t("자료 없음", "No data")}</p>'
    width, height, left, bottom, top = max(420, 34 * len(items) + 70), 260, 60, 70, 14
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = _nice_max(max(v for _, v in items))
    step = plot_w / len(items)
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" role="img" aria-label="{escape(label)}">']
    for k in range(5):
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_n(int(peak * k / 4))}</text>')
    for i, (name, value) in enumerate(items):
        h = plot_h * value / peak
        x = left + i * step + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(name)}: {_n(value)}</title></rect>"
        )
        cx = left + i * step + step / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 12}" text-anchor="end" '
            f'transform="rotate(-45 {cx:.1f} {top + plot_h + 12})">'
            f"{escape(name)}</text>"
        )
    parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(label: str, series: Sequence[str], items: Sequence[tuple[str, Sequence[int]]]) -> str:
    """Horizontal bars, one group per item, one bar per series (with a legend)."""
    if not items:
        return f'<p class="small">{_t("자료 없음", "No data")}</p>'
    colors = ["var(--bar)", "var(--bar2)", "var(--bar3)"]
    row_h = 16 * len(series) + 8
    left, width = 170, 760
    legend_h = 22 if len(series) > 1 else 0
    height = legend_h + row_h * len(items) + 24
    peak = _nice_max(max((max(values) for _, values in items), default=1))
    plot_w = width - left - 70
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" role="img" aria-label="{escape(label)}">']
    if legend_h:
        for s, name in enumerate(series):
            parts.append(f'<rect x="{left + s * 150}" y="4" width="12" height="12" fill="{colors[s % 3]}"/>')
            parts.append(f'<text x="{left + s * 150 + 16}" y="14">{escape(name)}</text>')
    for i, (name, values) in enumerate(items):
        y0 = legend_h + i * row_h + 4
        parts.append(f'<text x="{left - 8}" y="{y0 + row_h / 2:.1f}" text-anchor="end">{escape(name)}</text>')
        for s, value in enumerate(values):
            w = plot_w * value / peak
            y = y0 + s * 16
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="13" fill="{colors[s % 3]}">'
                f"<title>{escape(name)} {escape(series[s])}: {_n(value)}</title></rect>"
            )
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 11}">{_n(value)}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{legend_h}" y2="{height - 20}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(holders: Sequence[dict[str, Any]], first: int, last: int) -> str:
    """Who held each role, as bars along the block axis."""
    if not holders:
        return f'<p class="small">{_t("자료 없음", "No data")}</p>'
    left, width, row = 300, 900, 18
    plot_w = width - left - 20
    span = max(1, last - first)
    height = row * len(holders) + 40
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" role="img" aria-label="role holders">']
    for i, h in enumerate(holders):
        y = 6 + i * row
        start = h["from_block"]
        end = h["to_block"] if h["to_block"] is not None else last
        x0 = left + plot_w * (start - first) / span
        x1 = max(x0 + 2, left + plot_w * (end - first) / span)
        color = "var(--bar)" if h["to_block"] is None else "var(--bar2)"
        account = h["account"]
        parts.append(
            f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{escape(h["contract"])}:{escape(h["role"])} '
            f"{escape(account[:8])}…{escape(account[-4:])}</text>"
        )
        tip = f"{h['contract']} {h['role']} {account}: blocks {start} to {end if h['to_block'] is not None else 'now'}"
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{x1 - x0:.1f}" height="12" fill="{color}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    base = 6 + len(holders) * row + 4
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{base}" y2="{base}" stroke="#333"/>')
    for k in range(5):
        block = first + span * k // 4
        x = left + plot_w * k / 4
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">#{_n(block)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------- the page


def render_html(report: AuditReport) -> str:
    data = report.as_json()
    totals = data["totals"]
    d = report.deployment
    out: list[str] = []
    add = out.append
    add('<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8">')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add(f"<title>감사 보고서 / Audit report — chain {report.chain_id} block {report.audited_block}</title>")
    add(f"<style>{_CSS}</style></head><body>")
    add(
        '<div class="switch" aria-label="language"><input type="radio" name="lang" id="lang-both" checked>'
        '<label for="lang-both">한국어 + English</label><input type="radio" name="lang" id="lang-ko">'
        '<label for="lang-ko">한국어</label><input type="radio" name="lang" id="lang-en">'
        '<label for="lang-en">English</label></div>'
    )
    add(f"<h1>{_t('시민 참여 원장 감사 보고서', 'Civic ledger audit report')}</h1>")
    add(
        _para(
            "체인만으로 검증: 시의 데이터베이스를 사용하지 않음",
            "Verified from the chain alone: the city database was not used",
            "small",
        )
    )
    warned = len(report.warnings)
    if report.clean and not warned:
        add(
            f'<div class="verdict clean">{_t("이상 없음: 모든 검사를 통과했습니다", "Clean: every check passed")}</div>'
        )
    elif report.clean:
        add(
            f'<div class="verdict clean">{_t(f"이상 없음 (경고 {warned:,}건)", f"Clean ({warned:,} warning(s))")}</div>'
        )
    else:
        count = len(report.errors)
        add(
            f'<div class="verdict dirty">{_t(f"발견 사항 {count:,}건", f"{count:,} finding(s)")}'
            + (f" · {_t(f'경고 {warned:,}건', f'{warned:,} warning(s)')}" if warned else "")
            + "</div>"
        )
    meta = [
        (_t("체인 ID", "Chain id"), escape(str(report.chain_id))),
        (
            _t("감사한 블록", "Audited block"),
            f"#{_n(report.audited_block)} <code>{escape(report.audited_block_hash or '')}</code>",
        ),
        (_t("블록 시각", "Block time"), escape(_when(report.audited_block_time))),
        (_t("검사 범위", "Blocks scanned"), f"#{_n(report.from_block)} - #{_n(report.audited_block)}"),
        (_t("포인트 컨트랙트", "Points contract"), f"<code>{escape(d['points_address'])}</code>"),
        (_t("배지 컨트랙트", "Badges contract"), f"<code>{escape(d['badges_address'])}</code>"),
        (_t("앵커 컨트랙트", "Anchors contract"), f"<code>{escape(d['anchors_address'])}</code>"),
        (_t("배포자", "Deployer"), f"<code>{escape(d['deployer'])}</code>"),
        (_t("시간대", "City time zone"), f"{escape(d['time_zone'])} (UTC{d['day_offset_seconds'] / 3600:+g}h)"),
        (_t("작성 시각", "Generated"), escape(report.generated_at)),
        (_t("소요 시간", "Duration"), f"{report.scan.get('duration_seconds', 0):.1f} s"),
    ]
    add(
        '<table class="meta"><tbody>'
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in meta)
        + "</tbody></table>"
    )

    # checks
    add(f"<h2>{_t('검사 항목', 'Checks made')}</h2>")
    outcome = {"passed": _t("통과", "passed"), "failed": _t("실패", "failed"), "skipped": _t("생략", "skipped")}
    add(
        _table(
            [
                _t("검사", "Check"),
                _t("결과", "Outcome"),
                _t("발견", "Findings"),
                _t("경고", "Warnings"),
                _t("내용", "What was checked"),
            ],
            [
                [
                    _t(c.title_ko, c.title),
                    f'<span class="{c.outcome}">{outcome[c.outcome]}</span>',
                    _n(c.findings),
                    _n(c.warnings),
                    escape(c.detail),
                ]
                for c in report.checks
            ],
            numeric=(2, 3),
        )
    )

    # findings
    add(f"<h2>{_t('발견 사항', 'Findings')}</h2>")
    rows = []
    for f in report.findings:
        meaning = FINDING_KINDS[f.kind]
        where = ""
        if f.record:
            where = f"{escape(f.record['type'])} tx {_short(f.record['tx_hash'])} log {f.record['log_index']}"
        rows.append(
            [
                f"<code>{escape(f.kind)}</code><br>{_t(meaning[2], meaning[1])}",
                f'<span class="{f.severity}">{escape(f.severity)}</span>',
                f"#{_n(f.block)}" if f.block is not None else "",
                where,
                escape(f.message)
                + f"<details><summary>{_t('증거', 'evidence')}</summary><pre class='mono'>"
                + escape(json.dumps(f.evidence, indent=1, ensure_ascii=False, default=str))
                + "</pre></details>",
            ]
        )
    if rows:
        add(
            _table(
                [
                    _t("종류", "Kind"),
                    _t("심각도", "Severity"),
                    _t("블록", "Block"),
                    _t("기록", "Record"),
                    _t("내용", "Detail"),
                ],
                rows,
            )
        )
    else:
        add(f"<p>{_t('발견 사항이 없습니다.', 'No findings.')}</p>")

    # code
    add(f"<h2>{_t('코드 검사', 'Code check')}</h2>")
    add(
        _para(
            "각 주소의 런타임 코드를 커밋된 소스의 컴파일 결과(아티팩트)와 비교합니다. 생성자가 설정하는 immutable "
            "값은 제외하고, 끝의 CBOR 메타데이터 해시까지 같으면 완전 일치(full), 메타데이터만 다르면 부분 "
            "일치(partial)입니다.",
            "The runtime code at each address is compared with what the committed sources compile to (the "
            "artifacts), constructor-set immutables masked. Equal with the CBOR metadata hash at the end: full match; "
            "equal except the metadata: partial match.",
        )
    )
    match_label = {
        "full": _t("완전 일치", "full match"),
        "partial": _t("부분 일치", "partial match"),
        "mismatch": _t("불일치", "mismatch"),
        "missing": _t("코드 없음", "no code"),
    }
    add(
        _table(
            [
                _t("컨트랙트", "Contract"),
                _t("결과", "Match"),
                _t("컴파일러", "Compiler"),
                _t("소스 해시", "Source hash"),
                _t("메타데이터", "Metadata"),
                _t("설명", "Detail"),
            ],
            [
                [
                    f"{escape(c.name)} ({escape(c.artifact)})<br><code>{escape(c.address)}</code>",
                    f'<span class="{c.match}">{match_label[c.match]}</span>',
                    f"{escape(c.compiler)}<br>"
                    f"<span class='small'>{escape(json.dumps(c.settings, sort_keys=True))}</span>",
                    f"<code>{escape(c.source_hash)}</code><br><span class='small'>{escape(c.source_name)} keccak256 "
                    f"<code>{escape(c.source_keccak or '')}</code></span>",
                    f"<span class='small'>on-chain ipfs <code>{escape(c.metadata_on_chain.get('ipfs', '-'))}</code>, "
                    f"solc {escape(c.metadata_on_chain.get('solc', '-'))}</span>",
                    escape(c.detail)
                    + (f"<br>first difference at byte {c.first_difference}" if c.first_difference is not None else ""),
                ]
                for c in report.code
            ],
        )
    )

    # totals and charts
    add(f"<h2>{_t('합계', 'Totals')}</h2>")
    summary = [
        (_t("기록", "Records"), totals["records"]),
        (_t("트랜잭션", "Transactions"), totals["transactions"]),
        (_t("포인트를 받은 주소", "Addresses awarded"), totals["citizens_awarded"]),
        (_t("지급", "Awards"), totals["awards"]),
        (_t("지급 포인트", "Points awarded"), totals["points_awarded"]),
        (_t("회수", "Reversals"), totals["reversals"]),
        (_t("회수 포인트", "Points reversed"), totals["points_reversed"]),
        (_t("사용(교환)", "Redemptions"), totals["redemptions"]),
        (_t("사용 포인트", "Points redeemed"), totals["points_redeemed"]),
        (_t("총 발행량(재구성)", "Total supply (rebuilt)"), totals["rebuilt_supply"]),
        (_t("행사", "Events"), totals["events"]),
        (_t("배지 발급", "Badges issued"), totals["badges_issued"]),
        (_t("배지 취소", "Badges revoked"), totals["badges_revoked"]),
        (_t("배지 재발급", "Badges re-issued"), totals["badges_reissued"]),
        (_t("보유 중인 배지", "Badges held"), totals["badges_held"]),
        (_t("주소 재연결", "Re-bindings"), len(totals["rebindings"])),
    ]
    add(_table([_t("항목", "Item"), _t("값", "Value")], [[k, _n(v)] for k, v in summary], numeric=(1,)))
    add('<div class="charts">')
    weekly = _t("주별 지급 포인트 (시 기준 ISO 주)", "Points awarded per week (ISO weeks, city time)")
    add(f"<figure><figcaption>{weekly}</figcaption>")
    add(_column_chart("points per week", [(w["week"], w["points"]) for w in totals["by_week"]]))
    add("</figure>")
    add(f"<figure><figcaption>{_t('활동 종류별 포인트', 'Points per activity kind')}</figcaption>")
    add(
        _bar_chart(
            "points per activity kind",
            ["awarded / 지급", "reversed / 회수"],
            [(f"{k['kind']} {k['label']}", [k["points"], k["reversed_points"]]) for k in totals["by_kind"]],
        )
    )
    add("</figure>")
    add(f"<figure><figcaption>{_t('행사별 배지', 'Badges per event')}</figcaption>")
    add(
        _bar_chart(
            "badges per event",
            ["issued / 발급", "revoked / 취소", "held / 보유"],
            [(f"#{e['event_id']} {e['venue']}", [e["issued"], e["revoked"], e["held"]]) for e in totals["by_event"]],
        )
    )
    add("</figure>")
    add(
        f"<figure><figcaption>{_t('사유 코드별 회수와 배지 취소', 'Reversals and revocations by reason code')}"
        "</figcaption>"
    )
    reasons = sorted(
        {r["reason_code"] for r in totals["reversals_by_reason"]}
        | {r["reason_code"] for r in totals["revocations_by_reason"]}
    )
    rev = {r["reason_code"]: r["count"] for r in totals["reversals_by_reason"]}
    rvk = {r["reason_code"]: r["count"] for r in totals["revocations_by_reason"]}
    add(
        _bar_chart(
            "reversals and revocations by reason",
            ["reversals / 회수", "revocations / 취소"],
            [(f"reason {code}", [rev.get(code, 0), rvk.get(code, 0)]) for code in reasons],
        )
    )
    add("</figure>")
    add(f"<figure><figcaption>{_t('보상별 사용', 'Redemptions per reward')}</figcaption>")
    add(
        _bar_chart(
            "redemptions per reward",
            ["points / 포인트", "redemptions / 건수"],
            [(f"reward {r['reward_id']}", [r["points"], r["redemptions"]]) for r in totals["by_reward"]],
        )
    )
    add("</figure></div>")

    add(f"<h3>{_t('주별 합계', 'Per week')}</h3>")
    add(
        _table(
            [
                _t("주", "Week"),
                _t("시작일", "Starts"),
                _t("지급", "Awards"),
                _t("포인트", "Points"),
                _t("회수", "Reversed"),
                _t("사용", "Redeemed"),
                _t("배지", "Badges"),
            ],
            [
                [
                    escape(w["week"]),
                    escape(w["starts"]),
                    _n(w["awards"]),
                    _n(w["points"]),
                    _n(w["reversed_points"]),
                    _n(w["redeemed_points"]),
                    _n(w["badges"]),
                ]
                for w in totals["by_week"]
            ],
            numeric=(2, 3, 4, 5, 6),
        )
    )
    add(f"<h3>{_t('활동 종류별 합계', 'Per activity kind')}</h3>")
    add(
        _table(
            [
                _t("종류", "Kind"),
                _t("이름", "Label"),
                _t("지급", "Awards"),
                _t("포인트", "Points"),
                _t("회수", "Reversals"),
                _t("회수 포인트", "Points reversed"),
            ],
            [
                [
                    _n(k["kind"]),
                    escape(k["label"]),
                    _n(k["awards"]),
                    _n(k["points"]),
                    _n(k["reversals"]),
                    _n(k["reversed_points"]),
                ]
                for k in totals["by_kind"]
            ],
            numeric=(0, 2, 3, 4, 5),
        )
    )
    add(f"<h3>{_t('행사별 합계', 'Per event')}</h3>")
    add(
        _table(
            [
                _t("행사", "Event"),
                _t("장소", "Venue"),
                _t("정원", "Capacity"),
                _t("발급", "Issued"),
                _t("취소", "Revoked"),
                _t("재발급", "Re-issued"),
                _t("보유", "Held"),
            ],
            [
                [
                    f"#{e['event_id']}",
                    escape(e["venue"]),
                    _n(e["capacity"]),
                    _n(e["issued"]),
                    _n(e["revoked"]),
                    _n(e["reissued"]),
                    _n(e["held"]),
                ]
                for e in totals["by_event"]
            ],
            numeric=(2, 3, 4, 5, 6),
        )
    )
    add(f"<h3>{_t('포인트 회수 (사유 포함)', 'Reversals, with reasons')}</h3>")
    add(
        _table(
            [
                _t("활동", "Activity"),
                _t("시민", "Citizen"),
                _t("포인트", "Points"),
                _t("사유 코드", "Reason code"),
                _t("블록", "Block"),
                _t("트랜잭션", "Transaction"),
            ],
            [
                [
                    _n(r["activity_id"]),
                    _short(r["citizen"]),
                    _n(r["points"]),
                    _n(r["reason_code"]),
                    f"#{_n(r['block'])}",
                    _short(r["tx_hash"]),
                ]
                for r in totals["reversal_list"]
            ],
            numeric=(0, 2, 3),
        )
    )
    add(f"<h3>{_t('배지 취소 (사유 포함)', 'Badge revocations, with reasons')}</h3>")
    add(
        _table(
            [
                _t("행사", "Event"),
                _t("참석자", "Attendee"),
                _t("사유 코드", "Reason code"),
                _t("블록", "Block"),
                _t("트랜잭션", "Transaction"),
            ],
            [
                [
                    f"#{r['event_id']}",
                    _short(r["attendee"]),
                    _n(r["reason_code"]),
                    f"#{_n(r['block'])}",
                    _short(r["tx_hash"]),
                ]
                for r in totals["revocation_list"]
            ],
            numeric=(2,),
        )
    )
    if totals["reissue_list"]:
        add(f"<h3>{_t('배지 재발급', 'Badges re-issued')}</h3>")
        add(
            _table(
                [_t("행사", "Event"), _t("참석자", "Attendee"), _t("사유 코드", "Reason code"), _t("블록", "Block")],
                [
                    [f"#{r['event_id']}", _short(r["attendee"]), _n(r["reason_code"]), f"#{_n(r['block'])}"]
                    for r in totals["reissue_list"]
                ],
            )
        )
    add(f"<h3>{_t('보상별 사용', 'Redemptions per reward')}</h3>")
    add(
        _table(
            [_t("보상", "Reward"), _t("건수", "Redemptions"), _t("포인트", "Points")],
            [[_n(r["reward_id"]), _n(r["redemptions"]), _n(r["points"])] for r in totals["by_reward"]],
            numeric=(0, 1, 2),
        )
    )
    add(f"<h3>{_t('주소 재연결', 'Re-bindings (lost keys)')}</h3>")
    add(
        _table(
            [
                _t("옛 주소", "Old address"),
                _t("새 주소", "New address"),
                _t("사유 코드", "Reason code"),
                _t("블록", "Block"),
            ],
            [
                [_short(r["old"]), _short(r["new"]), _n(r["reason_code"]), f"#{_n(r['block'])}"]
                for r in totals["rebindings"]
            ],
        )
    )
    add(f"<h3>{_t('한도 변경 이력', 'Limits over time')}</h3>")
    add(
        _table(
            [
                _t("블록", "Block"),
                _t("시각", "Time"),
                _t("1회 최대", "Per award"),
                _t("일일 한도", "Daily cap"),
                _t("트랜잭션", "Transaction"),
            ],
            [
                [
                    f"#{_n(x['block'])}",
                    escape(_when(x["time"])),
                    _n(x["max_points_per_award"]),
                    _n(x["daily_cap"]),
                    _short(x["tx_hash"]),
                ]
                for x in totals["limits_history"]
            ],
            numeric=(2, 3),
        )
    )

    # roles
    roles = data["roles"]
    add(f"<h2>{_t('권한 보유자와 변경 이력', 'Role holders over time, and every role change')}</h2>")
    add(_timeline(roles["holders"], report.from_block, report.audited_block))
    add(
        f'<p class="small">{_t("파란 막대: 현재 보유, 주황 막대: 회수됨", "Blue: held now; orange: revoked since")}</p>'
    )
    add(
        _table(
            [
                _t("컨트랙트", "Contract"),
                _t("권한", "Role"),
                _t("계정", "Account"),
                _t("부여 블록", "From block"),
                _t("부여자", "Granted by"),
                _t("회수 블록", "Until block"),
                _t("회수자", "Revoked by"),
            ],
            [
                [
                    escape(h["contract"]),
                    escape(h["role"]),
                    f"<code>{escape(h['account'])}</code>",
                    f"#{_n(h['from_block'])} {escape(_when(h['from_time']))}",
                    _short(h["granted_by"]),
                    (
                        f"#{_n(h['to_block'])} {escape(_when(h['to_time']))}"
                        if h["to_block"] is not None
                        else _t("현재", "now")
                    ),
                    _short(h["revoked_by"]),
                ]
                for h in roles["holders"]
            ],
        )
    )
    add(f"<h3>{_t('모든 권한 변경', 'Every role change')}</h3>")
    add(
        _table(
            [
                _t("블록", "Block"),
                _t("시각", "Time"),
                _t("컨트랙트", "Contract"),
                _t("권한", "Role"),
                _t("계정", "Account"),
                _t("변경", "Change"),
                _t("변경자", "By"),
                _t("트랜잭션", "Transaction"),
            ],
            [
                [
                    f"#{_n(c['block'])}",
                    escape(_when(c["time"])),
                    escape(c["contract"]),
                    escape(c["role"]),
                    _short(c["account"]),
                    _t("부여", "granted") if c["granted"] else _t("회수", "revoked"),
                    _short(c["by"]),
                    _short(c["tx_hash"]),
                ]
                for c in roles["changes"]
            ],
        )
    )

    # anchors
    anchors = data["anchors"]
    add(f"<h2>{_t('오프체인 기록 앵커', 'Anchored off-chain records')}</h2>")
    add(
        _table(
            [
                _t("기간 시작", "Period start"),
                _t("기간 끝", "Period end"),
                _t("기록 수", "Records"),
                _t("루트", "Root"),
                _t("블록", "Block"),
            ],
            [
                [
                    escape(_when(a["period_start"])),
                    escape(_when(a["period_end"])),
                    _n(a["records"]),
                    _short(a["root"]),
                    f"#{_n(a['block'])}",
                ]
                for a in anchors["periods"]
            ],
            numeric=(2,),
        )
    )
    if anchors["gaps"]:
        add(f"<h3>{_t('앵커 공백', 'Periods with no anchor')}</h3>")
        add(
            _table(
                [_t("부터", "From"), _t("까지", "To"), _t("초", "Seconds")],
                [[escape(_when(g["from"])), escape(_when(g["to"])), _n(g["seconds"])] for g in anchors["gaps"]],
                numeric=(2,),
            )
        )
    if anchors["records_file"]:
        rf = anchors["records_file"]
        entries, verified, erased = int(rf["entries"]), int(rf["verified"]), int(rf.get("erased", 0))
        ko = f"기록 파일: {entries:,}건 중 {verified:,}건이 앵커된 루트에 포함됨을 확인"
        en = f"Records file: {verified:,} of {entries:,} records proven in an anchored root"
        if erased:
            ko += f" (내용이 삭제된 {erased:,}건은 리프로만 확인)"
            en += f" ({erased:,} with their content erased, proven by their leaf alone)"
        add(f"<p>{_t(ko, en)}</p>")

    scan = data["scan"]
    add(f"<h2>{_t('검사 방법', 'How the scan ran')}</h2>")
    add(
        _table(
            [_t("항목", "Item"), _t("값", "Value")],
            [
                [_t("로그 요청", "Log requests"), _n(scan["log_requests"])],
                [_t("로그", "Logs"), _n(scan["logs"])],
                [_t("범위 축소", "Range halvings"), _n(scan["range_halvings"])],
                [_t("재시도", "Retries"), _n(scan["retries"])],
                [_t("일괄 요청", "Batch requests"), _n(scan["batches"])],
                [_t("호출", "Calls"), _n(scan["calls"])],
                [_t("로그 검사 시간(초)", "Scan seconds"), escape(str(scan["scan_seconds"]))],
                [_t("전체 시간(초)", "Total seconds"), escape(str(scan["duration_seconds"]))],
            ],
            numeric=(1,),
        )
    )
    add(
        _para(
            "모든 기록은 records.csv에, 전체 보고서는 report.json에 있습니다.",
            "Every record is in records.csv; the whole report in report.json.",
            "small",
        )
    )
    add("</body></html>\n")
    return "".join(out)
