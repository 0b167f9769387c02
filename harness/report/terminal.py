"""A short summary of a verdict on the terminal: outcome, why it failed and what to change, gates,
losses, the first failures."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.diagnosis import Diagnosis
from harness.log import console as central_console
from harness.report.diagnosis_view import SECTION_TITLE, UNEXPLAINED_LABEL, diagnosis_view
from harness.report.view import outage_detail
from harness.verdict import GateStatus, Verdict

__all__ = ["STYLES", "diagnosis_renderable", "print_verdict", "verdict_renderable"]

# Evidence sentences per finding on the terminal; the reports on disk hold all of them.
TERMINAL_EVIDENCE = 3

STYLES: dict[GateStatus, str] = {
    GateStatus.PASS: "bold green",
    GateStatus.FAIL: "bold red",
    GateStatus.ERROR: "bold magenta",
    GateStatus.INCONCLUSIVE: "bold yellow",
    GateStatus.SKIPPED: "dim",
}


def _headline(verdict: Verdict) -> Text:
    text = Text()
    text.append(f" {verdict.outcome.value} ", style=f"reverse {STYLES[verdict.outcome]}")
    text.append(f"  {verdict.scenario}", style="bold")
    text.append(f"  run {verdict.run_id}", style="dim")
    if verdict.expected == "fail":
        if verdict.matches_expectation:
            text.append("  negative control: failed as expected", style="green")
        else:
            text.append("  negative control: expected FAIL, did not fail", style="bold red")
    return text


def _gate_table(verdict: Verdict) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("gate")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for gate in verdict.gates:
        table.add_row(gate.name, Text(gate.status.value, style=STYLES[gate.status]), Text(gate.reason))
    return table


def _counts(verdict: Verdict) -> Text:
    counts = verdict.counts
    outcomes = counts.outcomes
    text = Text()
    text.append(f"{outcomes.total} requests: {outcomes.ok} ok")
    for name in ("http_4xx", "http_5xx", "refused", "reset", "timeout", "incomplete", "other", "bad_status",
                 "not_sent", "unexpected_status"):
        n = getattr(outcomes, name)
        if n:
            text.append(", ")
            text.append(f"{n} {name.replace('http_', '')}", style="red" if name != "http_4xx" else "yellow")
    if counts.malformed_lines:
        text.append(f", {counts.malformed_lines} unreadable lines", style="magenta")
    if counts.by_conn:
        per_conn = "; ".join(f"{conn}: {c.failed()} of {c.total} failed" for conn, c in counts.by_conn.items())
        text.append(f"\n{per_conn}", style="dim")
    for mode, run in counts.outages.items():
        text.append(f"\nlongest outage ({mode}): {run.failed} requests {outage_detail(verdict, run)}", style="red")
    lat = verdict.latency_during_disruption
    if lat.count and lat.p99_ms is not None:
        text.append(f"\nduring the disruption: p99 {lat.p99_ms:.1f} ms over {lat.count} responses", style="dim")
    return text


def diagnosis_renderable(diagnosis: Diagnosis, *, evidence: int = TERMINAL_EVIDENCE) -> RenderableType:
    """Why it failed and what to change, compact: per finding a line, its fixes and a few sentences."""
    view = diagnosis_view(diagnosis)
    parts: list[RenderableType] = [Text(SECTION_TITLE, style="bold underline"), Text(view.summary, style="bold")]
    for finding in view.findings:
        head = Text("  ")
        if finding.unexplained:
            head.append(f"? unexplained x{finding.count}", style="bold yellow")
            head.append(f": {finding.title}")
            head.append(f" ({UNEXPLAINED_LABEL}, not a finding of cause)", style="yellow")
        else:
            head.append(f"{finding.number}. {finding.mechanism} x{finding.count}", style="bold red")
            head.append(f": {finding.title}")
        parts.append(head)
        where = ([f"pods {finding.pods}"] if finding.pods != "-" else []) + ([finding.counts] if finding.counts else [])
        if finding.span:
            where.append(f"sent {finding.span}")
        parts.append(Text("     " + "; ".join(where), style="dim"))
        for rec in finding.recommendations:
            line = Text("     \u2192 ")
            line.append(rec.setting, style="bold green")
            line.append(f": {rec.text}", style="green")
            if rec.overrides:
                line.append(f" [{rec.overrides}]", style="dim")
            parts.append(line)
        parts.extend(Text(f"     \u00b7 {sentence}", style="dim") for sentence in finding.evidence[:evidence])
        if len(finding.evidence) > evidence:
            parts.append(Text(f"     \u00b7 {len(finding.evidence) - evidence} more in report.html", style="dim"))
    parts.extend(Text(f"  note: {note}", style="dim yellow") for note in view.notes)
    return Group(*parts)


def verdict_renderable(verdict: Verdict, *, failures: int = 5) -> RenderableType:
    parts: list[RenderableType] = [_headline(verdict)]
    if verdict.diagnosis is not None:
        parts.append(diagnosis_renderable(verdict.diagnosis))
    parts += [_gate_table(verdict), _counts(verdict)]
    if verdict.first_failures and failures > 0:
        shown = verdict.first_failures[:failures]
        failed = verdict.counts.outcomes.failed(allow_4xx=verdict.config.allow_4xx)
        parts.append(Text(f"first {len(shown)} of {failed} failing requests:", style="bold"))
        parts.extend(Text("  " + f.describe() + (f" [{f.mechanism}]" if f.mechanism else "")) for f in shown)
    if verdict.harness_errors:
        parts.append(Text("harness errors:", style="bold magenta"))
        parts.extend(Text(f"  {e}", style="magenta") for e in verdict.harness_errors)
    return Group(*parts)


def print_verdict(verdict: Verdict, console: Console | None = None, *, failures: int = 5) -> None:
    """Print the summary to the central console (stderr) unless another console is given."""
    (console or central_console).print(verdict_renderable(verdict, failures=failures))
