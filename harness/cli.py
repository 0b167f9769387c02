"""The ``harness`` command: a thin layer that parses arguments and calls the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape

from harness.cluster.kind import NODE_PORT
from harness.cluster.versions import DEFAULT_K8S_VERSION
from harness.errors import ConfigError, HarnessError
from harness.log import console, setup_logging

if TYPE_CHECKING:
    from harness.run import RunResult
    from harness.scenario import Scenario
    from harness.validate import Problem
    from harness.verdict import Verdict

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="harness",
    help="Prove, with evidence, that a Kubernetes service loses no request while it is disrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
image_app = typer.Typer(help="Build the sample service's image.", no_args_is_help=True)
manifests_app = typer.Typer(help="Static checks of Kubernetes manifests.", no_args_is_help=True)
cluster_app = typer.Typer(help="The local kind cluster (built with no container registry).", no_args_is_help=True)
app.add_typer(image_app, name="image")
app.add_typer(manifests_app, name="manifests")
app.add_typer(cluster_app, name="cluster")

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")]


def _print_version(show: bool) -> None:
    if not show:
        return
    from harness.toolchain import tool_versions

    for what, version in tool_versions():
        typer.echo(f"{what}: {version}")
    raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Show the harness version and the versions of the tools it installs or expects.")] = False,
) -> None:
    """Prove, with evidence, that a Kubernetes service loses no request while it is disrupted."""


@app.command("scenarios")
def scenarios_list(verbose: Verbose = 0) -> None:
    """List the scenarios that ship with the harness, and how to run each."""
    from harness.builtin import PREFIX, builtin_scenarios

    listed = _guarded(builtin_scenarios, verbose)
    width = max((len(name) for name, _ in listed), default=0)
    for name, description in listed:
        typer.echo(f"{name:<{width}}  {description}")
    typer.echo(f"\nrun one with `harness run {PREFIX}NAME` (e.g. `harness run {PREFIX}rolling-restart`); "
               f"`harness gate {PREFIX}` runs all but the sweeps/ ones; `harness sweep {PREFIX}NAME` a sweep")
ClusterName = Annotated[str, typer.Option("--name", help="Cluster name.")]


def _finish_run(result: RunResult) -> int:
    """Show a run's verdict and where its evidence is; the exit code is 0 only on PASS."""
    from harness.report.terminal import print_verdict

    print_verdict(result.verdict)
    console.print(f"run directory: {result.run_dir}")
    return 0 if result.verdict.passed else 1


def _guarded(fn: Callable[[], T], verbose: int) -> T:
    """Run one command; a HarnessError becomes a clear message and an exit code, never a traceback."""
    setup_logging(verbose)
    try:
        return fn()
    except HarnessError as exc:
        # Messages quote user input, which must never be read as console markup.
        console.print(f"[bold red]error:[/] {escape(exc.problem)}", highlight=False, soft_wrap=True)
        if exc.fix:
            console.print(f"[bold]fix:[/] {escape(exc.fix)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    except Exception as exc:
        # A defect of the harness itself: one clear line, the details only when asked for.
        text = escape(f"{type(exc).__name__}: {str(exc)[:300]}")
        console.print(f"[bold red]internal error:[/] {text}", highlight=False, soft_wrap=True)
        console.print("this is a bug of rollout-harness; rerun with -v to see where it happened", highlight=False)
        if verbose:
            console.print_exception()
        raise typer.Exit(3) from None


def _print_problems(problems: list[Problem], *, err: bool) -> None:
    for problem in problems:
        typer.echo(problem.format(), err=err)


def _invalid(exc: ConfigError, path: Path) -> int:
    """Show why a scenario cannot run, as `harness validate` shows it; the exit code of bad input."""
    from harness.validate import Problem

    _print_problems([Problem(path, exc.problem, exc.fix)], err=True)
    return exc.exit_code


def _default_scenarios_dir() -> Path:
    """scenarios/ of the working directory, else the scenarios that ship with the harness."""
    from harness.builtin import PREFIX

    return Path("scenarios") if Path("scenarios").is_dir() else Path(PREFIX)


@app.command("validate")
def validate(
    scenarios: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or directories of *.yaml; builtin:NAME a shipped one, builtin: all of them "
             "(default: scenarios/ here, else builtin:).")] = None,
    context: Annotated[str | None, typer.Option(help="Check against this kube context, as `run --context`.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig holding --context.")] = None,
    verbose: Verbose = 0,
) -> None:
    """Check scenarios, their manifests and kubeconfig without any cluster. Exit 0 only when all are valid."""
    from harness.validate import validate_each

    def go() -> int:
        results, missing = validate_each(scenarios or [_default_scenarios_dir()], context=context,
                                         kubeconfig=kubeconfig)
        for result in results:
            if result.problem is None:
                typer.echo(f"{result.path}: OK")
            else:
                _print_problems([result.problem], err=False)
        _print_problems(missing, err=False)
        return 2 if missing or any(r.problem is not None for r in results) else 0

    raise typer.Exit(_guarded(go, verbose))


@app.command("init")
def init(
    manifests: Annotated[Path, typer.Option(help="The service's manifests: a directory of YAML, a kustomization "
                                                 "(rendered with kubectl kustomize) or a Helm chart (helm template).")],
    image: Annotated[str | None, typer.Option(help="The image to test (default: the one the manifests name).")] = None,
    out: Annotated[Path | None, typer.Option(help="The scenario file to write (default: NAME.yaml here).")] = None,
    name: Annotated[str | None, typer.Option(help="Scenario name (default: WORKLOAD-rolling-restart).")] = None,
    workload: Annotated[str | None, typer.Option(help="The Deployment to test, when there are several.")] = None,
    service: Annotated[str | None, typer.Option(help="The Service to send traffic through, when several select it.")
                       ] = None,
    port: Annotated[str | None, typer.Option(help="The Service port (number or name), when it has several.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite the scenario file (and its manifests) if they exist.")] = False,
    verbose: Verbose = 0,
) -> None:
    """Write a rolling-restart scenario for your own service, read from its manifests."""
    from harness.init import init_scenario, report_lines

    def go() -> int:
        result = init_scenario(manifests, out=out, image=image, name=name, workload=workload, service=service,
                               port=port, force=force)
        lines, valid = report_lines(result)
        for line in lines:
            typer.echo(line)
        return 0 if valid else 1

    raise typer.Exit(_guarded(go, verbose))


@image_app.command("build")
def image_build(
    version: Annotated[
        str | None, typer.Option(help="Version to compile in and tag (default: sample-service/VERSION).")
    ] = None,
    source: Annotated[Path | None, typer.Option(help="Sample service source directory.")] = None,
    verbose: Verbose = 0,
) -> None:
    """Build rollout-harness/sample-service:<version> (static binary, FROM scratch, no pull)."""
    from harness.image import build_sample_image

    built = _guarded(lambda: build_sample_image(version, source), verbose)
    typer.echo(built.ref)


@manifests_app.command("check")
def manifests_check(
    directories: Annotated[list[Path], typer.Argument(help="Manifest directories to check.")],
    verbose: Verbose = 0,
) -> None:
    """Name each problem that would make a rollout lose requests, and its fix."""
    from harness.manifests import check_manifests, format_findings

    def run() -> int:
        worst = 0
        for directory in directories:
            findings = check_manifests(directory)
            errors = [f for f in findings if f.severity == "error"]
            if findings:
                typer.echo(f"{directory}:")
                typer.echo(format_findings(findings))
            else:
                typer.echo(f"{directory}: no problems found")
            if errors:
                worst = 1
        return worst

    code = _guarded(run, verbose)
    raise typer.Exit(code)


@cluster_app.command("up")
def cluster_up(
    name: ClusterName = "rollout-harness",
    workers: Annotated[int, typer.Option(min=0, max=5, help="Worker nodes besides the control plane.")] = 0,
    k8s_version: Annotated[str, typer.Option(
        "--k8s-version", help="Kubernetes version of the nodes.")] = DEFAULT_K8S_VERSION,
    node_image: Annotated[str, typer.Option(
        help="'auto' (build locally, or use a stock kindest/node image when it can be pulled), 'build', "
             "'stock', or an image reference.")] = "auto",
    host_port: Annotated[int, typer.Option(
        help=f"Port on 127.0.0.1 that publishes the NodePort {NODE_PORT}.")] = NODE_PORT,
    verbose: Verbose = 0,
) -> None:
    """Create the kind cluster (or reuse a healthy one); build the node image first when needed."""
    from harness.cluster.lifecycle import up

    record = _guarded(lambda: up(name=name, workers=workers, k8s_version=k8s_version, node_image=node_image,
                                 host_port=host_port), verbose)
    typer.echo(f"cluster {record.name} is ready; kubeconfig {record.kubeconfig} (context {record.context})")


@cluster_app.command("image")
def cluster_image(
    k8s_version: Annotated[str, typer.Option("--k8s-version")] = DEFAULT_K8S_VERSION,
    force: Annotated[bool, typer.Option(help="Rebuild even when the cache holds the image.")] = False,
    verbose: Verbose = 0,
) -> None:
    """Build the kind node image locally from the Go module proxy and Debian packages."""
    from harness.cluster.lifecycle import build_image

    built = _guarded(lambda: build_image(k8s_version, force=force), verbose)
    typer.echo(built.ref)


@cluster_app.command("down")
def cluster_down(name: ClusterName = "rollout-harness", verbose: Verbose = 0) -> None:
    """Delete the cluster, its containers, network and volumes; put back host sysctls kubelet changed."""
    from harness.cluster.kind import cluster_down as down

    removed = _guarded(lambda: down(name), verbose)
    typer.echo("\n".join(removed) if removed else f"no cluster {name!r}; nothing to remove")


@cluster_app.command("status")
def cluster_status(name: ClusterName = "rollout-harness", verbose: Verbose = 0) -> None:
    """Show whether the cluster exists, its nodes, and what is wrong with it."""
    from harness.cluster.kind import cluster_status as status

    st = _guarded(lambda: status(name), verbose)
    if not st.exists:
        typer.echo(f"cluster {name!r} does not exist (create it with `harness cluster up`)")
        raise typer.Exit(1)
    typer.echo(f"cluster {name!r}: {'healthy' if st.healthy else 'NOT healthy'}"
               f"{'' if st.owned else ' (not created by the harness)'}")
    for node in st.nodes:
        typer.echo(f"  node {node['name']}: {'Ready' if node['ready'] else 'NotReady'} {node['version']}")
    for problem in st.problems:
        typer.echo(f"  problem: {problem}")
    if st.kubeconfig:
        typer.echo(f"  kubeconfig: {st.kubeconfig} (context {st.context})")
    raise typer.Exit(0 if st.healthy else 1)


@app.command("run")
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario file, or builtin:NAME for one that ships with the harness "
                                         "(`harness scenarios` lists them; default: builtin:rolling-restart).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory that receives the run directory.")] = Path("runs"),
    context: Annotated[str | None, typer.Option(
        help="Disrupt this existing kube context instead of the harness's own cluster. Naming it is the "
             "permission to disrupt it.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig holding --context.")] = None,
    cluster: Annotated[str | None, typer.Option(
        help="The harness cluster to run on, created when needed (default: the scenario's cluster.name).")] = None,
    keep_namespace: Annotated[bool, typer.Option(help="Leave the run's namespace in place.")] = False,
    repeat: Annotated[int | None, typer.Option(
        min=1, max=1000, help="Run it this many times on one cluster and state an upper bound on the failure "
                              "probability over all runs (default: the scenario's repeat:).")] = None,
    verbose: Verbose = 0,
) -> None:
    """Run a scenario: deploy, drive traffic, disrupt, record, judge. Exit 0 only on PASS (every run's)."""

    def go() -> int:
        from harness.scenario import default_scenario_path
        from harness.validate import validate_scenario_file

        path = scenario or default_scenario_path()
        try:
            loaded = validate_scenario_file(path, context=context, kubeconfig=kubeconfig)
        except ConfigError as exc:
            return _invalid(exc, path)
        if cluster:
            loaded = loaded.model_copy(update={"cluster": loaded.cluster.model_copy(update={"name": cluster})})
        # The run's machinery is imported only for a scenario that can run.
        from harness.run import RunOptions, run_scenario

        options = RunOptions(out_dir=out, context=context, kubeconfig=kubeconfig, keep_namespace=keep_namespace)
        if repeat is not None or loaded.repeat is not None:
            from harness.sweep.commands import repeat_command

            return repeat_command(loaded, options, repeat, out=out)
        return _finish_run(run_scenario(loaded, options))

    raise typer.Exit(_guarded(go, verbose))


@app.command("gate")
def gate(
    source: Annotated[Path | None, typer.Argument(help=(
        "A directory of scenario files, or one file; builtin: the ones that ship with the harness "
        "(default: scenarios/ here, else builtin:)."))] = None,
    out: Annotated[Path, typer.Option(help="Directory that receives the release-gate report.")] = Path("gate-report"),
    only: Annotated[list[str] | None, typer.Option(help="Run only these scenarios (repeatable).")] = None,
    cluster: Annotated[str, typer.Option(help="The harness cluster to run on (created when needed).")] = (
        "rollout-harness"),
    context: Annotated[str | None, typer.Option(help="Run on this existing context (named explicitly).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig holding --context.")] = None,
    verbose: Verbose = 0,
) -> None:
    """Run every scenario (one reused cluster per cluster shape); write HTML, Markdown, JUnit, JSON reports.

    Exits non-zero when any scenario's verdict differs from its expectation.
    """

    def announce(scenario: Scenario, verdict: Verdict) -> None:
        mark = "[green]as expected[/]" if verdict.matches_expectation else "[bold red]NOT as expected[/]"
        console.print(f"{scenario.name}: {verdict.outcome.value} (expected {scenario.expect}) {mark}")

    def go() -> int:
        from harness.validate import validate_paths

        # Every scenario, before the first cluster: a gate that fails on its tenth scenario's typo
        # has already spent the time of the nine before it.
        chosen = source or _default_scenarios_dir()
        problems = validate_paths([chosen], context=context, kubeconfig=kubeconfig)
        if problems:
            _print_problems(problems, err=True)
            return 2
        from harness.release import load_scenarios, run_release

        scenarios = load_scenarios(chosen, only)
        console.print(f"gate: {len(scenarios)} scenario(s): {', '.join(s.name for s in scenarios)}")
        result = run_release(scenarios, out, cluster=cluster, context=context, kubeconfig=kubeconfig,
                          on_verdict=announce)
        for name, path in sorted(result.reports.items()):
            console.print(f"{name}: {path}")
        return result.exit_code

    raise typer.Exit(_guarded(go, verbose))


@app.command("sweep")
def sweep(
    scenario: Annotated[Path, typer.Argument(
        help="Scenario file (or builtin:NAME); its sweep: section (if any) gives the grid.")],
    vary: Annotated[list[str] | None, typer.Option(
        help="KEY=V1,V2,...: a setting and its values (repeatable), e.g. pre_stop_seconds=0,2,5, "
             "env.DRAIN_DELAY=0s,5s, mode=keep-alive,new, max_surge=1,25%. Lists inside a value use '|'.")] = None,
    repeat: Annotated[int | None, typer.Option(
        min=1, max=1000, help="Runs per combination (default: the scenario's repeat:, else 1).")] = None,
    out: Annotated[Path | None, typer.Option(help="The sweep's directory (default: sweeps/<scenario name>).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the sweep recorded in --out; finished runs are kept.")] = False,
    max_minutes: Annotated[float | None, typer.Option(
        min=0, help="Stop after the combination that crosses this many minutes; the rest are marked not run.")] = None,
    max_cells: Annotated[int | None, typer.Option(min=1, help="Stop after this many combinations.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the grid and the estimated time, run nothing.")] = False,
    cluster: Annotated[str | None, typer.Option(help="The harness cluster to run on (default: the scenario's).")] = (
        None),
    context: Annotated[str | None, typer.Option(help="Run on this existing context (named explicitly).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig holding --context.")] = None,
    verbose: Verbose = 0,
) -> None:
    """Run every combination of settings (repeated), reusing one cluster; write a table and a heat map.

    Exit 0 when every combination ran and at least one passed every repeat.
    """

    def go() -> int:
        from harness.sweep.commands import SweepRequest, sweep_command

        return sweep_command(SweepRequest(
            scenario=scenario, vary=vary or [], repeat=repeat, out=out, resume=resume, max_minutes=max_minutes,
            max_cells=max_cells, dry_run=dry_run, cluster=cluster, context=context, kubeconfig=kubeconfig))

    raise typer.Exit(_guarded(go, verbose))


@app.command("fix-check")
def fix_check(
    run_dir: Annotated[Path, typer.Argument(help="A failed run's directory, written by `harness run`.")],
    out: Annotated[Path, typer.Option(help="Directory that receives the new run directory.")] = Path("runs"),
    context: Annotated[str | None, typer.Option(help="Run on this existing context (named explicitly).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig holding --context.")] = None,
    verbose: Verbose = 0,
) -> None:
    """Apply a failed run's recommended settings to its scenario, run it again, say if the failures are gone.

    Exits 0 only when the run with the recommended settings passes.
    """

    def go() -> int:
        from harness.fixcheck import FixResult, failed_count, load_failed_run, plan_fix, write_fix_check
        from harness.overrides import apply_overrides

        scenario, before = load_failed_run(run_dir)
        plan = plan_fix(before.diagnosis)
        for rec in plan.not_applicable:
            console.print(f"[yellow]not checkable by a re-run[/] ({escape(rec.setting)}): {escape(rec.text)}")
        if not plan.overrides:
            console.print(f"{run_dir}: no recommendation of this run can be applied as a scenario setting; "
                          "nothing to check")
            return 2
        fixed = apply_overrides(scenario, {**plan.overrides, "expect": "pass"})
        console.print("fix-check: running " + scenario.name + " with "
                      + ", ".join(f"{k}={v}" for k, v in sorted(plan.overrides.items())))
        from harness.run import RunOptions, run_scenario

        result = run_scenario(fixed, RunOptions(out_dir=out, context=context, kubeconfig=kubeconfig))
        outcome = FixResult(before=before, after=result.verdict, plan=plan)
        path = write_fix_check(result.run_dir, outcome)
        after_failed, before_failed = failed_count(result.verdict), failed_count(before)
        for change in outcome.changes():
            console.print("  " + escape(change.describe()))
        if outcome.fixed:
            word = "[green]fixed[/]"
        elif outcome.settings_worked:
            word = "[yellow]not fixed by settings alone[/]: what remains needs a change to the service"
        else:
            word = "[bold red]not fixed[/]"
        console.print(f"fix-check: {word}: {before_failed} failed before ({before.outcome.value}), {after_failed} "
                      f"after ({result.verdict.outcome.value}); {path}")
        return 0 if outcome.fixed else 1

    raise typer.Exit(_guarded(go, verbose))


@app.command("replay")
def replay(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `harness run`.")],
    out: Annotated[Path, typer.Option(help="Directory that receives the new run directory.")] = Path("runs"),
    context: Annotated[str | None, typer.Option(help="Replay on this context instead of the original one.")] = None,
    verbose: Verbose = 0,
) -> None:
    """Run a recorded scenario again the same way: same scenario, seed and target."""

    def go() -> int:
        from harness.validate import validate_replay

        try:
            validate_replay(run_dir, context=context)
        except ConfigError as exc:
            return _invalid(exc, run_dir)
        from harness.replay import replay_run

        result, differences = replay_run(run_dir, out=out, context=context)
        for line in differences:
            console.print(f"[yellow]differs from the recorded run:[/] {line}")
        return _finish_run(result)

    raise typer.Exit(_guarded(go, verbose))


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `harness run`.")],
    verbose: Verbose = 0,
) -> None:
    """Re-judge a saved run from its evidence (no cluster needed) and rewrite its reports."""
    from harness.report.terminal import print_verdict
    from harness.report.writers import write_run_reports
    from harness.verdict import judge_run_dir

    def go() -> int:
        verdict = judge_run_dir(run_dir)
        files = write_run_reports(run_dir, verdict)
        print_verdict(verdict)
        console.print("reports: " + ", ".join(str(p) for p in files.values()))
        return 0 if verdict.passed else 1

    raise typer.Exit(_guarded(go, verbose))


def main() -> None:
    app(prog_name="harness")


if __name__ == "__main__":
    main()
