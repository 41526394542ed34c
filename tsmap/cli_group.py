"""The click group every tsmap command line uses (tsmap's own and plugins' such as tsmap_train)."""

import click

from .errors import Interrupted, TsmapError, plain_message


class RequiredFirst(click.Command):
    """A command whose ``--help`` lists its required options first (then the rest in declaration order)."""

    def get_params(self, ctx):
        return sorted(super().get_params(ctx), key=lambda p: not getattr(p, "required", False))


class ErrorGroup(click.Group):
    """Turns every error a user can cause into one line on stderr, without a traceback or a usage block.

    Library errors (:class:`TsmapError`) exit with 1; click's usage errors (a bad ``--year``, an
    unknown ``--encoding``, a missing option) keep click's message, which names the option and the
    values it takes, and exit with 2 as click does, pointing at ``--help`` on the same line; an
    interrupted run says what it kept (exit code 130, as for Ctrl-C).
    """

    command_class = RequiredFirst

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # the group's own options (`tsmap --bogus`)
            _usage_error(exc, info_name or self.name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TsmapError as exc:
            click.echo(f"Error: {' '.join(plain_message(exc, first_line=False).split())}", err=True)
            ctx.exit(1)
        except Interrupted as exc:
            click.echo(f"Stopped: {exc}", err=True)
            ctx.exit(130)
        except click.UsageError as exc:
            _usage_error(exc, ctx.command_path)


def _usage_error(exc: click.UsageError, where: str):
    if type(exc).__name__ == "NoArgsIsHelpError":  # a command given alone shows its help
        raise exc
    where = exc.ctx.command_path if exc.ctx is not None else where
    click.echo(f"Error: {' '.join(exc.format_message().split())} (see '{where} --help')", err=True)
    raise click.exceptions.Exit(exc.exit_code)
