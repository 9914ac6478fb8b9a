"""`nas-harness audit RUN_DIR [--json]`: did the sampler do what its name says?"""

from __future__ import annotations

import click

from harness.cli.options import PathOption, json_option
from harness.cli.output import echo_json, json_safe


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _distribution_line(label: str, d: dict | None) -> str:
    if not d:
        return f"{label}: -"
    return (f"{label}: P max/min {_fmt(d.get('p_max_over_min'))}, effective number "
            f"{_fmt(d.get('effective_n'), 4)} of {d.get('n_codes')} "
            f"({_fmt(d.get('effective_fraction'))}), KL(P||U) {_fmt(d.get('kl_from_uniform_nats'))} nats")


def _test_line(label: str, t: dict | None) -> str:
    if not t:
        return f"{label}: -"
    if t.get("p_value") is None:
        return f"{label}: {t.get('reason', 'no test')}"
    return (f"{label}: {t['test']}, chi-squared {_fmt(t['statistic'], 4)} on {t['df']} df, "
            f"p = {_fmt(t['p_value'])} ({t['n_draws']} draws)")


def _sampler_schedule(audit: dict):
    """The audited sampler's own schedule table, if it has one (Sampler.audit_schedule)."""
    from harness.samplers import SAMPLERS

    name = audit.get("sampler")
    return SAMPLERS.get(name).audit_schedule(audit) if name in SAMPLERS else None


def register(cli: click.Group) -> None:
    @cli.command("audit")
    @click.argument("run_dir", type=PathOption(file_okay=False))
    @json_option
    def audit(run_dir: str, as_json: bool) -> None:
        """The sampler's realised draws against uniform sampling and against its design."""
        from harness.train.audit import run_audit

        report = run_audit(run_dir)
        if as_json:
            echo_json(report)
            return
        a = json_safe(report["audit"])
        click.echo(f"run {report['run_dir']}: sampler {a['sampler']} "
                   f"({report['state']}, {report['epochs_done']} of {report['epochs']} epochs)")
        options = report.get("sampler_options") or {}
        if "tau" in options:
            click.echo(f"  tau {options['tau']}, mapping {options.get('mapping')}, normalize "
                       f"{options.get('normalize')}, estimator {options.get('estimator')}")
        draws = f"  draws: {a['n_draws']}"
        if "active_draws" in a:
            draws += f" ({a['warmup_draws']} in warm-up, {a['active_draws']} after)"
        click.echo(draws)
        if "distribution" in a:
            click.echo("  " + _distribution_line("distribution at the end", a.get("distribution")))
        if "time_averaged_distribution" in a:
            click.echo("  " + _distribution_line("distribution the draws came from",
                                                 a.get("time_averaged_distribution")))
        if "acceptance_rate" in a:
            click.echo(f"  acceptance rate {_fmt(a.get('acceptance_rate'))} of "
                       f"{a.get('proposals')} proposals; live prototypes "
                       f"{a.get('live_prototypes')} of {a.get('n_prototypes')}")
        tests = a.get("tests", {})
        click.echo("  " + _test_line("vs uniform", tests.get("vs_uniform")))
        if tests.get("vs_design") is not tests.get("vs_uniform"):
            click.echo("  " + _test_line("vs design", tests.get("vs_design")))
        if "verdict" in a:
            click.echo(f"  verdict: {a['verdict']}")
        rows = report.get("snapshots") or []
        schedule = _sampler_schedule(a)
        if schedule is not None:  # the sampler's own table (e.g. PA&DA's temperatures)
            headers, table = schedule
            click.echo("  " + "  ".join(headers))
            for row in table:
                click.echo("  " + "  ".join(f"{_fmt(v):>{len(h)}}" for h, v in zip(headers, row)))
        elif rows:
            click.echo("  epoch  active  P max/min  eff. fraction  KL (nats)")
            for row in rows:
                d = row.get("distribution") or {}
                click.echo(f"  {row['epoch'] + 1:>5}  {'yes' if row.get('active') else 'no':>6}  "
                           f"{_fmt(d.get('p_max_over_min')):>9}  "
                           f"{_fmt(d.get('effective_fraction')):>13}  "
                           f"{_fmt(d.get('kl_from_uniform_nats')):>9}")
