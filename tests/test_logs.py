"""The log file: rotation keeps the newest lines in the file and at most ``backups`` older files."""

from __future__ import annotations

import logging

from pioreactor_kernel.logs import RotatingFileHandler


def test_the_log_file_rotates_at_its_size_and_keeps_the_configured_number_of_backups(tmp_path):
    path = tmp_path / "pioreactor.log"
    handler = RotatingFileHandler(path, max_bytes=1000, backups=2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("rotation-test")
    logger.addHandler(handler)
    for i in range(100):
        logger.info("line %03d %s", i, "x" * 40)  # 50 bytes: 20 lines a file
    handler.close()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["pioreactor.log", "pioreactor.log.1", "pioreactor.log.2"]
    newest = path.read_text().splitlines()
    assert newest[-1].startswith("line 099") and len(newest) == 20
    older = (tmp_path / "pioreactor.log.1").read_text().splitlines()
    assert older[-1].startswith(f"line {int(newest[0][5:8]) - 1:03d}")  # no line lost between the files
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 1000


def test_without_backups_the_file_starts_over(tmp_path):
    path = tmp_path / "pioreactor.log"
    handler = RotatingFileHandler(path, max_bytes=200, backups=0)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("rotation-test-0")
    logger.addHandler(handler)
    for i in range(10):
        logger.info("line %d %s", i, "y" * 40)
    handler.close()
    assert [p.name for p in tmp_path.iterdir()] == ["pioreactor.log"]
    assert path.read_text().splitlines()[-1].startswith("line 9")
