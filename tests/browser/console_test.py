"""The web console in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium,
never a browser Playwright downloads) through a replication, as a person would: log in, add two
registries, create a policy with the wizard and preview its plan, run it, watch the execution
until it succeeds, open its tasks and a task's log; then Stop and Retry on executions it makes up
(page.route answers the list, and records the calls the buttons send), since a real run of one
small image neither lasts long enough to stop nor fails. A screenshot is taken at each step.

Any browser console error, page error or failed request fails the run, except the one failure
it provokes on purpose (a login with a wrong password, a 401).

    .venv/bin/python tests/browser/console_test.py --api http://127.0.0.1:8080/api/v2.0 \
        --password Harbor12345 --source http://127.0.0.1:5001 --destination http://127.0.0.1:5002 \
        --screenshots target/browser

Each option may come from the environment instead: FERRY_CONSOLE_API, FERRY_CONSOLE_PASSWORD,
FERRY_CONSOLE_SOURCE, FERRY_CONSOLE_DESTINATION, FERRY_CONSOLE_SCREENSHOTS. The repository
the source holds and the plan must show is --repository (default console/app).
"""

import argparse
import os
import re
import sys
import time
import traceback
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("FERRY_CHROMIUM", "/usr/bin/chromium")


def options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument("--api", default=env("FERRY_CONSOLE_API"), help="the API base URL, .../api/v2.0")
    parser.add_argument("--password", default=env("FERRY_CONSOLE_PASSWORD"), help="the admin password")
    parser.add_argument("--source", default=env("FERRY_CONSOLE_SOURCE"), help="the source registry's URL")
    parser.add_argument("--destination", default=env("FERRY_CONSOLE_DESTINATION"), help="the destination registry's URL")
    parser.add_argument("--screenshots", default=env("FERRY_CONSOLE_SCREENSHOTS", "target/browser"))
    parser.add_argument("--repository", default=env("FERRY_CONSOLE_REPOSITORY", "console/app"))
    parsed = parser.parse_args()
    missing = [name for name in ("api", "password", "source", "destination") if not getattr(parsed, name)]
    if missing:
        parser.error("missing: " + ", ".join(f"--{m}" for m in missing))
    return parsed


class Problems:
    """What went wrong in the browser, less the failures provoked on purpose."""

    def __init__(self):
        self.seen = []
        # (status, url part): responses provoked on purpose, each allowed once, with the console
        # line Chromium writes for it.
        self.deliberate = []
        self.excused_console = 0

    def expect(self, status, url_part):
        self.deliberate.append((status, url_part))

    def on_response(self, response):
        if response.status < 400:
            return
        for i, (status, part) in enumerate(self.deliberate):
            if response.status == status and part in response.url:
                del self.deliberate[i]
                self.excused_console += 1
                print(f"  (deliberate) {response.status} {response.request.method} {response.url}")
                return
        self.seen.append(f"failed request: {response.status} {response.request.method} {response.url}")

    def on_request_failed(self, request):
        self.seen.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def on_console(self, message):
        if message.type != "error":
            return
        text = message.text
        if self.excused_console and "Failed to load resource" in text:
            self.excused_console -= 1
            return
        self.seen.append(f"console error: {text}")

    def on_page_error(self, error):
        self.seen.append(f"page error: {error}")


def main():
    args = options()
    api = args.api.rstrip("/")
    origin = re.sub(r"/api/v2\.0$", "", api)
    console = origin + "/"
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    problems = Problems()
    step_no = [0]
    newest_policy_id = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.on("response", problems.on_response)
        page.on("requestfailed", problems.on_request_failed)
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)

        def shot(name):
            step_no[0] += 1
            path = shots / f"{step_no[0]:02d}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"  screenshot {path}")

        def step(text):
            print(f"step: {text}", flush=True)

        try:
            step(f"open {console}")
            response = page.goto(console)
            assert response is not None and response.ok, f"GET {console}: {response and response.status}"
            csp = response.headers.get("content-security-policy", "")
            assert csp.startswith("default-src 'self'"), f"no strict CSP on the page: {csp!r}"
            expect(page.get_by_role("heading", name="Log in to Ferry")).to_be_visible()
            shot("login")

            step("a wrong password stays on the login form with the API's message")
            problems.expect(401, "/api/v2.0/registries")
            page.get_by_label("User").fill("admin")
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("alert")).to_contain_text("Login failed")
            expect(page.get_by_role("heading", name="Log in to Ferry")).to_be_visible()
            shot("login-refused")

            step("log in as admin")
            page.get_by_label("Password").fill(args.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Registries")).to_be_visible()
            assert page.evaluate("sessionStorage.getItem('ferry.console.auth')"), "credentials not kept"

            for name, url in (("source", args.source), ("destination", args.destination)):
                step(f"add the {name} registry {url}")
                page.get_by_role("button", name="Add registry").first.click()
                form = page.locator("form.panel")
                expect(form.get_by_label("Kind")).to_have_value("docker-registry")
                form.get_by_label("Name").fill(name)
                form.get_by_label("Description").fill(f"the {name} <b>of</b> the console test")
                form.get_by_label("URL").fill(url)
                form.get_by_role("button", name="Add registry").click()
                row = page.locator(f'tr[data-registry="{name}"]')
                expect(row).to_be_visible()
                # The description is text, not markup.
                expect(row).to_contain_text("<b>of</b>")
            shot("registries")

            step("test the source's connection")
            page.get_by_role("button", name="Test connection to source").click()
            expect(page.locator('tr[data-registry="source"]')).to_contain_text("Connection OK")

            step("edit the destination's description (PUT /registries/{id})")
            page.get_by_role("button", name="Edit destination").click()
            form = page.locator("form.panel")
            expect(form.get_by_label("Name")).to_have_value("destination")
            form.get_by_label("Description").fill("where the console test copies to")
            form.get_by_role("button", name="Save registry").click()
            expect(page.locator('tr[data-registry="destination"]')).to_contain_text("where the console test copies to")
            shot("registries-edited")

            step("create a policy with the wizard")
            page.get_by_role("link", name="Policies").click()
            expect(page.get_by_role("heading", name="Replication policies")).to_be_visible()
            page.get_by_role("link", name="New policy").click()
            expect(page.get_by_role("heading", name="New replication policy")).to_be_visible()
            page.get_by_label("Name", exact=True).fill("console-mirror")
            page.get_by_label("Source registry").select_option(label=f"source ({args.source})")
            page.get_by_label("Destination registry").select_option(label=f"destination ({args.destination})")
            shot("wizard-1-registries")
            page.get_by_role("button", name="Next").click()
            page.get_by_role("button", name="Add filter").click()
            page.get_by_label("Filter type").select_option("name")
            page.get_by_label("Value").fill(args.repository.split("/")[0] + "/**")
            page.get_by_role("button", name="Add filter").click()
            page.get_by_label("Filter type").nth(1).select_option("tag")
            page.get_by_label("Value").nth(1).fill("1.*")
            shot("wizard-2-filters")
            page.get_by_role("button", name="Next").click()
            page.get_by_label("scheduled").check()
            page.get_by_role("button", name="Daily at 02:00").click()
            expect(page.get_by_label("Cron (Harbor's 6 fields)")).to_have_value("0 0 2 * * *")
            shot("wizard-3-trigger")
            # Manual after all: the test runs it itself.
            page.get_by_label("manual").check()
            page.get_by_role("button", name="Next").click()
            expect(page.get_by_label("Enabled")).to_be_checked()
            page.get_by_label("Override: replace artifacts").check()

            step("preview: the wizard saves the policy, then plans it")
            page.get_by_role("button", name="Save and preview").click()
            plan = page.locator("#plan-title")
            expect(plan).to_contain_text("Succeed", timeout=120_000)
            expect(page.get_by_role("region", name=re.compile("in the plan"))).to_contain_text(args.repository)
            expect(page.get_by_role("region", name=re.compile("in the plan"))).to_contain_text("plan: copy")
            shot("wizard-4-plan")
            page.get_by_role("button", name="Save policy").click()
            row = page.locator('tr[data-policy="console-mirror"]')
            expect(row).to_be_visible()
            href = row.get_by_role("link", name="Edit console-mirror").get_attribute("href")
            newest_policy_id.append(int(re.search(r"#/policies/(\d+)/edit", href).group(1)))
            expect(row).to_contain_text("manual")
            shot("policies")

            step("run it now and watch the executions page")
            page.get_by_role("button", name="Run console-mirror now").click()
            expect(page.get_by_role("heading", name="Executions")).to_be_visible()
            newest = page.locator("tr[data-execution]").first
            shot("execution-started")
            expect(newest).to_have_attribute("data-status", "Succeed", timeout=180_000)
            expect(newest).to_contain_text("manual")
            expect(newest.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "1")
            # The auto-refresh stops once nothing runs: the page stays as it is.
            shot("executions")
            execution_id = newest.get_attribute("data-execution")

            step(f"open execution {execution_id}'s tasks, filter and search")
            newest.get_by_role("link", name=f"Tasks of execution {execution_id}").click()
            expect(page.get_by_role("heading", name=f"Execution {execution_id}")).to_be_visible()
            tasks = page.locator("tr[data-task]")
            expect(tasks.first).to_contain_text(args.repository)
            page.get_by_label("Status").select_option("Succeed")
            page.get_by_label("Repository").fill(args.repository)
            page.get_by_role("button", name="Apply").click()
            expect(tasks.first).to_have_attribute("data-status", "Succeed")
            expect(tasks.first).to_contain_text(args.repository)
            shot("tasks")
            page.get_by_label("Repository").fill("no-such-repository")
            page.get_by_role("button", name="Apply").click()
            expect(page.get_by_text("No task matches.")).to_be_visible()
            page.get_by_label("Repository").fill("")
            page.get_by_role("button", name="Apply").click()

            step("open a task's log")
            task_id = tasks.first.get_attribute("data-task")
            tasks.first.get_by_role("link", name=f"Log of task {task_id}").click()
            log = page.locator("pre.log")
            expect(log).to_be_visible()
            text = log.inner_text().strip()
            assert text and text != "(the log is empty)", "the task's log is empty"
            print(f"  log: {len(text)} characters, first line: {text.splitlines()[0][:120]}")
            shot("task-log")

            step("a phone-sized window")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{console}#/executions")
            expect(page.locator("tr[data-execution]").first).to_be_visible()
            shot("executions-phone")
            page.set_viewport_size({"width": 1280, "height": 860})

            step("keyboard: Tab reaches the navigation with a visible focus")
            page.goto(f"{console}#/registries")
            expect(page.get_by_role("heading", name="Registries")).to_be_visible()
            # From the top of the page, as after a reload: the skip link comes first.
            page.evaluate("document.querySelector('.skip').focus()")
            for _ in range(6):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement && document.activeElement.textContent") == "Policies":
                    break
            focused = page.evaluate("document.activeElement.textContent")
            assert focused == "Policies", f"Tab did not reach the navigation: {focused!r}"
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("", "none"), f"no visible focus outline: {outline!r}"
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name="Replication policies")).to_be_visible()

            step("stop and retry, on executions the test makes up (page.route): the calls the buttons send")
            policy_id = newest_policy_id[0]
            calls = []
            made_up = [
                {"id": 901, "policy_id": policy_id, "status": "InProgress", "trigger": "scheduled",
                 "start_time": "2026-01-01T00:00:00Z", "status_text": "", "total": 4, "succeed": 1,
                 "failed": 0, "in_progress": 2, "stopped": 0},
                {"id": 900, "policy_id": policy_id, "status": "Failed", "trigger": "manual",
                 "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:01:05Z",
                 "status_text": "1 task failed", "total": 3, "succeed": 2, "failed": 1,
                 "in_progress": 0, "stopped": 0},
            ]

            def listing(route):
                calls.append((route.request.method, route.request.url))
                route.fulfill(status=200, json=made_up, headers={"X-Total-Count": "2"})

            def action(route):
                request = route.request
                calls.append((request.method, request.url))
                if request.method == "PUT":
                    route.fulfill(status=200, json={})
                else:
                    route.fulfill(status=201, headers={"Location": "/api/v2.0/replication/executions/902"})

            list_pattern = re.compile(r".*/api/v2\.0/replication/executions(\?.*)?$")
            action_pattern = re.compile(r".*/api/v2\.0/replication/executions/90[01](/retry)?$")
            page.route(list_pattern, listing)
            page.route(action_pattern, action)
            page.goto(f"{console}#/executions")
            running = page.locator('tr[data-execution="901"]')
            expect(running).to_contain_text("1/4 done, 2 running")
            expect(page.get_by_text("Refreshing every 2 s")).to_be_visible()
            page.wait_for_timeout(4500)
            lists = [url for method, url in calls if method == "GET"]
            assert len(lists) >= 3, f"no refresh every 2 s while one runs: {len(lists)} listings in 4.5 s"
            shot("executions-running")
            running.get_by_role("button", name="Stop execution 901").click()
            for _ in range(50):
                if any(m == "PUT" and u.endswith("/replication/executions/901") for m, u in calls):
                    break
                page.wait_for_timeout(100)
            else:
                raise AssertionError(f"Stop sent no PUT /replication/executions/901: {calls}")
            page.locator('tr[data-execution="900"]').get_by_role(
                "button", name="Retry the failed tasks of execution 900").click()
            for _ in range(50):
                if any(m == "POST" and u.endswith("/replication/executions/900/retry") for m, u in calls):
                    break
                page.wait_for_timeout(100)
            else:
                raise AssertionError(f"Retry sent no POST .../900/retry: {calls}")
            page.unroute(list_pattern)
            page.unroute(action_pattern)

            step("a 401 mid-session (credentials no longer valid) returns to the login form, then back")
            page.evaluate("sessionStorage.setItem('ferry.console.auth', 'Basic ' + btoa('admin:expired'))")
            problems.expect(401, "/api/v2.0/replication/")
            page.goto(f"{console}#/executions")
            expect(page.get_by_role("heading", name="Log in to Ferry")).to_be_visible()
            expect(page.get_by_role("alert")).to_contain_text("Please log in again")
            shot("session-expired")
            page.get_by_label("Password").fill(args.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Executions")).to_be_visible()

            step("log out")
            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Log in to Ferry")).to_be_visible()
            assert not page.evaluate("sessionStorage.getItem('ferry.console.auth')"), "credentials kept after log out"
        except Exception as error:  # noqa: BLE001: every failure is reported the same way
            traceback.print_exc()
            try:
                shot("failure")
            except Exception:  # noqa: BLE001
                pass
            problems.seen.insert(0, f"step failed: {error}")
        finally:
            # Late events (a refresh in flight) land before the verdict.
            time.sleep(0.2)
            browser.close()

    if problems.deliberate:
        problems.seen.append(f"deliberate failures that did not happen: {problems.deliberate}")
    if problems.seen:
        print("FAIL: the console test found problems:", file=sys.stderr)
        for problem in problems.seen:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"console test passed: {step_no[0]} screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
