"""The offline template for `dvc plots show`: libraries inline in load order, DVC's placeholder kept,
bad input refused naming the file."""

from __future__ import annotations

import pytest

from lab.plots_template import build_template, main

SCRIPTS = {"vega-embed": "var embed = 3;", "vega": "var vega = 1;", "vega-lite": "var lite = 2;"}


def test_libraries_are_inline_in_load_order_and_dvc_fills_the_rest():
    page = build_template(SCRIPTS)
    assert page.index("var vega = 1;") < page.index("var lite = 2;") < page.index("var embed = 3;")
    # DVC fills in the plots (and --refresh), and adds no CDN scripts
    assert "{plot_divs}" in page and "{refresh_tag}" in page and "{scripts}" not in page
    assert "http" not in page


def test_a_missing_library_or_a_script_that_would_break_the_page_is_refused():
    with pytest.raises(ValueError, match=r"missing \['vega-lite'\]"):
        build_template({k: v for k, v in SCRIPTS.items() if k != "vega-lite"})
    with pytest.raises(ValueError, match="vega: the script contains '</script'"):
        build_template({**SCRIPTS, "vega": "x = '</script>';"})


def test_command_writes_the_template_and_names_a_wrong_file(tmp_path, capsys):
    files = []
    for name, code in SCRIPTS.items():
        (tmp_path / f"{name}.min.js").write_text(code)
        files.append(str(tmp_path / f"{name}.min.js"))
    main([*files, "--out", str(tmp_path / "t.html")])
    assert "var lite = 2;" in (tmp_path / "t.html").read_text()
    (tmp_path / "plotly.min.js").write_text("")
    with pytest.raises(SystemExit) as stop:
        main([*files[:2], str(tmp_path / "plotly.min.js"), "--out", str(tmp_path / "u.html")])
    assert stop.value.code == 2 and "plotly.min.js': expected one of" in capsys.readouterr().err
    assert not (tmp_path / "u.html").exists()
