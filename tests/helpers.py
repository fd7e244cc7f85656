"""Helpers shared across the test suite."""

from __future__ import annotations


def cli_options(**values: object) -> list[str]:
    """Command-line options from keywords, in their order: `batch_size="1,4"` gives
    `["--batch-size", "1,4"]`; paths and numbers are written with `str`; `True` gives a bare flag.

    >>> cli_options(model="bm25", seq_len=16, quiet=True)
    ['--model', 'bm25', '--seq-len', '16', '--quiet']
    """
    args: list[str] = []
    for name, value in values.items():
        args.append("--" + name.replace("_", "-"))
        if value is not True:
            args.append(str(value))
    return args
