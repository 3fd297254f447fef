"""The command line: ``focaldet <subcommand>`` (also ``python -m detector``), one module per
subcommand, each with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. The work is
done by the Python API (``detector.api``) and the layers below; errors become messages and exit
codes in one place (``common.ERRORS``). A subcommand module imports the package inside ``run``:
parsing, ``--help``, ``--version`` and argument errors never load torch (tests/cli/test_cli.py)."""
