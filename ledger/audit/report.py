"""The audit's answer: findings, checks, totals, and the files written from them.

``report.json`` is the whole report (every finding with its ``kind``, the record or block it
concerns and its evidence; the checks made; totals; the code check; role history; anchors),
``records.csv`` every record the scan decoded, one a row, with its on-chain reference, and
``report.html`` the same for a person to read and print (:mod:`ledger.audit.html`).
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from ..records import ChainRecord, record_to_json
from .code import CodeMatch

__all__ = [
    "CHECKS",
    "FINDING_KINDS",
    "REPORT_FORMAT",
    "AuditReport",
    "CheckResult",
    "Finding",
    "record_reference",
    "write_outputs",
    "write_records_csv",
]

REPORT_FORMAT = "civic-ledger-audit/1"

Severity = Literal["error", "warning"]

#: Every finding kind, with the check that produces it, and what it means (English, Korean).
FINDING_KINDS: dict[str, tuple[str, str, str]] = {
    # state rebuilt from the events against the contracts' state at the audited block
    "balance_mismatch": (
        "state_matches_events",
        "a citizen's balance differs from the sum of their Transfer records",
        "시민의 잔액이 Transfer 기록의 합과 다름",
    ),
    "total_supply_mismatch": (
        "state_matches_events",
        "the total supply differs from awards minus reversals and redemptions",
        "총 발행량이 지급에서 회수·사용을 뺀 값과 다름",
    ),
    "badge_mismatch": (
        "state_matches_events",
        "a badge holding differs from the issue, revocation and move records",
        "배지 보유 상태가 발급·취소·이전 기록과 다름",
    ),
    "limits_mismatch": (
        "state_matches_events",
        "the limits in force differ from the last LimitsChanged record",
        "현재 한도가 마지막 LimitsChanged 기록과 다름",
    ),
    "last_activity_id_mismatch": (
        "state_matches_events",
        "the contract's last activity id differs from the last award recorded",
        "컨트랙트의 마지막 활동 번호가 마지막 지급 기록과 다름",
    ),
    "reversal_state_mismatch": (
        "state_matches_events",
        "an activity recorded as reversed is not reversed in the contract",
        "회수 기록이 있는 활동이 컨트랙트에서 회수되지 않음",
    ),
    "state_unreadable": (
        "state_matches_events",
        "the contracts' state could not be read: calls to them revert (other code at the address?)",
        "컨트랙트 상태를 읽을 수 없음: 호출이 되돌려짐(주소의 코드가 바뀌었는지?)",
    ),
    "role_state_mismatch": (
        "state_matches_events",
        "an account holds (or lacks) a role that the role records do not give it",
        "권한 기록과 다른 권한 보유 상태",
    ),
    # the records agree with one another
    "unexplained_transfer": (
        "records_consistent",
        "a change of balance with no award, reversal, redemption or re-binding to explain it",
        "지급·회수·사용·재연결 없이 잔액이 바뀜",
    ),
    "badges_moved_without_rebinding": (
        "records_consistent",
        "badges moved between addresses outside a re-binding",
        "재연결 없이 배지가 이동함",
    ),
    "reversal_of_unknown_award": (
        "records_consistent",
        "a reversal of an activity that was never awarded",
        "지급된 적 없는 활동의 회수",
    ),
    "award_reversed_twice": ("records_consistent", "an award reversed twice", "한 지급이 두 번 회수됨"),
    # authority
    "unauthorised_act": (
        "acts_authorised",
        "an act sent by an account that did not hold the role it needs at that block",
        "그 블록에서 필요한 권한이 없는 계정이 보낸 행위",
    ),
    "unauthorised_role_change": (
        "acts_authorised",
        "a role granted or revoked by an account that was not an admin then",
        "관리자가 아닌 계정이 권한을 부여·회수함",
    ),
    # limits
    "award_over_maximum": (
        "limits_respected",
        "an award above the per-award maximum in force at its block",
        "그 블록의 1회 최대 지급량을 넘은 지급",
    ),
    "daily_cap_exceeded": (
        "limits_respected",
        "a citizen's awards in one city day above the daily cap in force",
        "하루(시 기준) 지급 합계가 일일 한도를 넘음",
    ),
    "activity_id_not_increasing": (
        "limits_respected",
        "an activity id not above the one awarded before it",
        "활동 번호가 앞선 번호보다 크지 않음",
    ),
    "activity_id_duplicate": ("limits_respected", "an activity id awarded twice", "같은 활동 번호가 두 번 지급됨"),
    "unknown_activity_kind": (
        "limits_respected",
        "an award of an activity kind not enabled at its block",
        "그 블록에서 허용되지 않은 활동 종류의 지급",
    ),
    "record_to_rebound_address": (
        "limits_respected",
        "a record to an address after its record was re-bound to another",
        "다른 주소로 재연결된 뒤의 옛 주소로 기록됨",
    ),
    "award_root_mismatch": (
        "award_roots_match",
        "a batch's Merkle root in the contract differs from the root of its recorded awards",
        "지급 묶음의 머클 루트가 기록된 지급으로 계산한 값과 다름",
    ),
    # code
    "code_mismatch": (
        "code_matches_source",
        "the code at a recorded address is not what the committed sources compile to",
        "기록된 주소의 코드가 커밋된 소스의 컴파일 결과와 다름",
    ),
    "code_missing": ("code_matches_source", "no code at a recorded address", "기록된 주소에 코드가 없음"),
    "deployment_mismatch": (
        "code_matches_source",
        "the deployment record does not match the deploying transactions",
        "배포 기록이 배포 트랜잭션과 맞지 않음",
    ),
    # anchors
    "anchor_gap": (
        "anchors",
        "a period between two anchored periods with no anchor",
        "앵커된 두 기간 사이에 앵커가 없는 기간",
    ),
    "record_not_anchored": (
        "anchors",
        "an off-chain record whose root was never anchored, or whose proof leads to no anchored root",
        "앵커되지 않은 루트의 오프체인 기록",
    ),
    "records_anchored_later": (
        "anchors",
        "records whose root was anchored after the audited block (not checked at that block)",
        "감사 블록 이후에 앵커된 기록 (그 블록에서는 검사하지 않음)",
    ),
    "record_altered": (
        "anchors",
        "an off-chain record whose content no longer gives the anchored leaf",
        "앵커 이후 내용이 바뀐 오프체인 기록",
    ),
    "record_proof_invalid": (
        "anchors",
        "an off-chain record whose inclusion proof does not lead to its anchored root",
        "포함 증명이 앵커된 루트로 이어지지 않음",
    ),
    "record_outside_period": (
        "anchors",
        "an off-chain record dated outside the period its anchor covers",
        "앵커 기간 밖의 시각을 가진 오프체인 기록",
    ),
    "records_file_invalid": (
        "anchors",
        "an entry of the records file that cannot be read",
        "읽을 수 없는 기록 파일 항목",
    ),
    # proof files
    "proof_invalid": ("proof_files", "a proof file that fails a check", "검사에 실패한 증명 파일"),
}

#: The checks, in report order: name -> (English title, Korean title).
CHECKS: dict[str, tuple[str, str]] = {
    "state_matches_events": (
        "State rebuilt from the events equals the contracts' state",
        "이벤트로 재구성한 상태가 컨트랙트 상태와 일치",
    ),
    "records_consistent": ("The records agree with one another", "기록 간 상호 일치"),
    "acts_authorised": (
        "Every act was sent by an account holding the needed role at that block",
        "모든 행위가 그 블록에서 권한을 가진 계정에 의해 이루어짐",
    ),
    "limits_respected": (
        "Daily caps, per-award maximums and activity ids were respected",
        "일일 한도·1회 최대량·활동 번호 규칙 준수",
    ),
    "award_roots_match": (
        "Each award batch's Merkle root matches its awards",
        "지급 묶음의 머클 루트가 지급 기록과 일치",
    ),
    "code_matches_source": (
        "The code at each address is what the committed sources compile to",
        "각 주소의 코드가 커밋된 소스의 컴파일 결과와 일치",
    ),
    "anchors": ("Off-chain records and their anchors", "오프체인 기록과 앵커"),
    "proof_files": ("Proof files", "증명 파일"),
}


def record_reference(record: ChainRecord, contract_name: str | None = None) -> dict[str, Any]:
    """Where a record stands on-chain, for a finding."""
    ref = record.ref
    return {
        "type": type(record).__name__,
        "contract": ref.contract,
        "contract_name": contract_name,
        "tx_hash": ref.tx_hash,
        "block_number": ref.block_number,
        "log_index": ref.log_index,
    }


@dataclass(frozen=True)
class Finding:
    """One thing the audit found wrong, with what it concerns and the evidence."""

    kind: str
    message: str
    #: The block the finding concerns (the record's, or the audited block for a state difference).
    block: int | None = None
    #: The record it concerns (see :func:`record_reference`), if one.
    record: dict[str, Any] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "error"

    @property
    def check(self) -> str:
        return FINDING_KINDS[self.kind][0]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "check": self.check, **asdict(self)}


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Literal["passed", "failed", "skipped"]
    detail: str
    #: Findings of severity ``error`` (the check failed), and of severity ``warning``.
    findings: int = 0
    warnings: int = 0

    @property
    def title(self) -> str:
        return CHECKS[self.name][0]

    @property
    def title_ko(self) -> str:
        return CHECKS[self.name][1]


@dataclass
class AuditReport:
    """Everything the audit established, for :func:`write_outputs` and the callers."""

    chain_id: int
    deployment: dict[str, Any]
    audited_block: int
    audited_block_hash: str | None
    audited_block_time: int
    from_block: int
    findings: list[Finding]
    checks: list[CheckResult]
    totals: dict[str, Any]
    code: list[CodeMatch]
    roles: dict[str, Any]
    anchors: dict[str, Any]
    scan: dict[str, Any]
    records: list[ChainRecord] = field(default_factory=list, repr=False)
    block_times: dict[int, int] = field(default_factory=dict, repr=False)
    senders: dict[str, str] = field(default_factory=dict, repr=False)
    contract_names: dict[str, str] = field(default_factory=dict, repr=False)
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def clean(self) -> bool:
        """No finding of severity ``error`` (warnings, such as a gap between anchored periods,
        are reported but do not make the programme unclean)."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def exit_code(self, *, strict: bool = False) -> int:
        """What ``civic audit`` exits with: 0 when clean, 1 when there are findings (with
        ``strict``, warnings count as findings too)."""
        return 1 if self.errors or (strict and self.findings) else 0

    def kinds(self) -> dict[str, int]:
        """How many findings of each kind."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _plain(
            {
                "format": REPORT_FORMAT,
                "clean": self.clean,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "generated_at": self.generated_at,
                "chain_id": self.chain_id,
                "audited_block": self.audited_block,
                "audited_block_hash": self.audited_block_hash,
                "audited_block_time": self.audited_block_time,
                "from_block": self.from_block,
                "deployment": self.deployment,
                "checks": [
                    {"name": c.name, "title": c.title, "title_ko": c.title_ko, **asdict(c)} for c in self.checks
                ],
                "finding_kinds": self.kinds(),
                "findings": [f.as_json() for f in self.findings],
                "totals": self.totals,
                "code": [asdict(c) for c in self.code],
                "roles": self.roles,
                "anchors": self.anchors,
                "scan": self.scan,
            }
        )
        return data


def _plain(value: Any) -> Any:
    """``value`` with tuples, enums, bytes and non-string keys made JSON-ready."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


#: records.csv columns: the on-chain reference, then the decoded fields of every record type.
CSV_COLUMNS = [
    "seq",
    "record",
    "contract_name",
    "contract",
    "tx_hash",
    "block_number",
    "block_hash",
    "log_index",
    "block_time",
    "tx_from",
    "activity_id",
    "citizen",
    "attendee",
    "old",
    "new",
    "sender",
    "recipient",
    "points",
    "kind",
    "distance_meters",
    "duration_seconds",
    "litter_grams",
    "steps",
    "evidence_hash",
    "reason_code",
    "reward_id",
    "relayer",
    "event_id",
    "event_ids",
    "operator",
    "voucher_issuer",
    "venue",
    "claim_start",
    "claim_end",
    "capacity",
    "client_ref",
    "role",
    "role_id",
    "account",
    "granted",
    "by",
    "max_points_per_award",
    "daily_cap",
    "enabled",
    "label",
    "paused",
    "root",
    "period_start",
    "period_end",
    "records",
]


def csv_row(seq: int, record: ChainRecord, report: AuditReport) -> dict[str, Any]:
    data = record_to_json(record)
    ref = data.pop("ref")
    assert isinstance(ref, dict)
    name = data.pop("record")
    row: dict[str, Any] = {
        "seq": seq,
        "record": name,
        "contract_name": report.contract_names.get(str(ref["contract"]), ""),
        "contract": ref["contract"],
        "tx_hash": ref["tx_hash"],
        "block_number": ref["block_number"],
        "block_hash": ref["block_hash"],
        "log_index": ref["log_index"],
        "tx_from": report.senders.get(str(ref["tx_hash"]), ""),
    }
    when = report.block_times.get(int(str(ref["block_number"])))
    row["block_time"] = datetime.fromtimestamp(when, UTC).isoformat() if when is not None else ""
    metrics = data.pop("metrics", None)
    if isinstance(metrics, dict):
        row.update(metrics)
    data.pop("contract_name", None)
    for key, value in data.items():
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            value = ""
        row[key] = value
    return row


def write_outputs(report: AuditReport, out_dir: Path) -> dict[str, Path]:
    """Writes ``report.json``, ``records.csv`` and ``report.html`` into ``out_dir``; returns their paths."""
    from .html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "csv": out_dir / "records.csv",
        "html": out_dir / "report.html",
    }
    paths["json"].write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        write_records_csv(report, handle)
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def write_records_csv(report: AuditReport, handle: TextIO) -> None:
    """``records.csv`` into an open text file (``newline=""``) or a ``StringIO``: every record
    the scan decoded, one a row, with its on-chain reference and its decoded fields."""
    writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for seq, record in enumerate(report.records, start=1):
        writer.writerow(csv_row(seq, record, report))


def sorted_records(records: Sequence[ChainRecord]) -> list[ChainRecord]:
    return sorted(records, key=lambda r: (r.ref.block_number, r.ref.log_index))
