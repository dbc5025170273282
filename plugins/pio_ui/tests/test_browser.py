"""The UI in a real headless Chromium against the real server, jobs and simulator."""

from __future__ import annotations

import json

import pytest
from pioreactor_kernel.testing import Recorder, wait_for

from pio_ui.testing import PASSWORD, login, need_job, shot

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect


def test_wrong_password_is_refused_and_the_right_one_logs_in(page):
    page.goto(page.base_url + "/")
    expect(page.get_by_role("heading", name="Pioreactor")).to_be_visible()
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong password")
    shot(page, "01-login-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Pages")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()
    expect(page.locator("[data-chart=od]")).to_be_visible()
    shot(page, "02-overview-empty")


def _open_units(page, leader):
    page.get_by_role("link", name="Units").click()
    card = page.locator(f"[data-unit={leader.unit}]")
    expect(card).to_be_visible()
    return card


def test_start_stirring_from_the_page_changes_state_and_live_points_arrive(page, leader, catalog):
    need_job(catalog, "stirring")
    login(page)
    card = _open_units(page, leader)
    row = card.locator("[data-job=stirring]")
    row.get_by_role("button", name="Start").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("target rpm").fill("450")
    shot(page, "03-start-stirring-dialog", full_page=False)
    dialog.get_by_role("button", name="Start").click()
    expect(row).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(row.locator(".badge")).to_have_text("running")
    wait_for(lambda: leader.true_state()["rpm"] > 100, 30, 0.5, what="the simulated motor to turn")
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="last 1h").click()
    rpm = page.locator("[data-chart=rpm]")
    expect(rpm.locator(".chip", has_text=leader.unit)).to_be_visible(timeout=30_000)
    # live points of the spinning motor reach the chart (measured_rpm is published every 5 s)
    page.wait_for_function("() => [...document.querySelector('[data-chart=rpm] .chart-box').__chart.lines.values()]"
                           ".some((l) => l.max.some((v) => v > 100))", timeout=30_000)
    page.wait_for_timeout(1000)  # one redraw tick
    shot(page, "04-overview-stirring-live")


def test_a_setting_changes_in_place_and_a_bad_value_is_refused(page, leader, catalog):
    need_job(catalog, "stirring")
    rec = Recorder(int(leader.env["PIO__mqtt__port"]), f"pioreactor/{leader.unit}/exp1/stirring/target_rpm")
    try:
        login(page)
        card = _open_units(page, leader)
        row = card.locator("[data-job=stirring]")
        if row.get_attribute("data-state") != "ready":
            row.get_by_role("button", name="Start").click()
            page.get_by_role("dialog").get_by_role("button", name="Start").click()
            expect(row).to_have_attribute("data-state", "ready", timeout=30_000)
        row.get_by_role("button", name="stirring").click()
        form = row.locator("[data-setting-form=target_rpm]")
        form.get_by_role("spinbutton").fill("5000")
        form.get_by_role("button", name="Set").click()
        expect(form.get_by_role("alert")).to_contain_text("above the maximum 2000")
        shot(page, "05-setting-refused", full_page=False)
        assert "5000" not in " ".join(rec.payloads(f"pioreactor/{leader.unit}/exp1/stirring/target_rpm"))
        form.get_by_role("spinbutton").fill("350")
        form.get_by_role("button", name="Set").click()
        rec.wait_for_value(f"pioreactor/{leader.unit}/exp1/stirring/target_rpm", "350.0", 15)
        expect(form.get_by_role("alert")).to_have_count(0)
        shot(page, "06-setting-changed", full_page=False)
    finally:
        rec.close()


def test_start_a_turbidostat_from_its_form(page, leader, catalog):
    need_job(catalog, "dosing_automation")
    topic = f"pioreactor/{leader.unit}/exp1/dosing_automation/dosing_automation_settings"
    rec = Recorder(int(leader.env["PIO__mqtt__port"]), topic)
    try:
        login(page)
        card = _open_units(page, leader)
        row = card.locator("[data-job=dosing_automation]")
        row.get_by_role("button", name="Start").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Automation").select_option("turbidostat")
        dialog.get_by_label("target od").fill("50")
        dialog.get_by_role("button", name="Start").click()
        expect(dialog.get_by_role("alert")).to_contain_text("above the maximum 20")
        dialog.get_by_label("target od").fill("1.5")
        dialog.get_by_label("exchange volume ml").fill("0.5")
        shot(page, "07-turbidostat-form", full_page=False)
        dialog.get_by_role("button", name="Start").click()
        expect(row).to_have_attribute("data-state", "ready", timeout=30_000)
        expect(row.locator(".auto-name")).to_have_text("turbidostat")
        wait_for(lambda: rec.last(topic), 15, what="the automation's settings")
        settings = json.loads(rec.last(topic))
        assert settings["automation_name"] == "turbidostat"
        assert settings["args"]["target_od"] == 1.5 and settings["args"]["exchange_volume_ml"] == 0.5
        shot(page, "08-units-turbidostat")
    finally:
        rec.close()


def test_a_third_party_plugin_adds_a_panel_a_chart_and_a_page(page, leader):
    login(page)
    card = _open_units(page, leader)
    row = card.locator("[data-job=light_meter]")
    expect(row.get_by_role("button", name="Light meter")).to_be_visible()
    row.get_by_role("button", name="Start").click()
    page.get_by_role("dialog").get_by_role("button", name="Start").click()
    expect(row).to_have_attribute("data-state", "ready", timeout=30_000)
    page.get_by_role("link", name="Light").click()
    expect(page.get_by_text("Light at each vial")).to_be_visible()
    panel = page.locator("[data-panel=light_meter_panel]")
    expect(panel.locator("[data-setting-form=gain]")).to_be_visible()
    expect(page.locator("[data-chart=lux] .chip", has_text=leader.unit)).to_be_visible(timeout=20_000)
    shot(page, "09-plugin-page")
    page.get_by_role("link", name="Plugins").click()
    expect(page.get_by_text("uitestplugin", exact=True)).to_be_visible()
    expect(page.get_by_text("broken", exact=False).first).to_be_visible()
    shot(page, "10-plugins")
    page.get_by_role("link", name="Units").click()
    row.get_by_role("button", name="Stop").click()
    expect(row).to_have_attribute("data-state", "disconnected", timeout=20_000)
