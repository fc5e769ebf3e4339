"""`make test-ui`: the registry's web pages in a real browser (Debian's chromium, headless, driven
by selenium through chromium-driver), against a daemon that tools/test-ui.sh started on the tiny
fixture models, on TCP (token + login cookie) and through `recallctl ui` (the loopback bridge).

Checks: every page loads without console errors; the numbers shown equal the API's JSON; the
heatmap has one cell per (layer, model); pan/zoom answers the keyboard; rollback from the page moves
head (checked through the API); an unauthenticated request gets nothing but the login page; a POST
without the CSRF token is refused; the jobs page updates live (server-sent events through the
bridge). Screenshots of each page go to --screenshots. Ends with 'ui-test: N passed, N failed'.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ap = argparse.ArgumentParser()
ap.add_argument("--daemon", required=True, help="http://127.0.0.1:PORT of the daemon's TCP listener")
ap.add_argument("--token", required=True)
ap.add_argument("--bridge-login", required=True, help="the login address `recallctl ui` printed")
ap.add_argument("--register", nargs=argparse.REMAINDER, required=True, help="last: the recallctl register command line for the live-jobs check (--no-wait added)")
ap.add_argument("--screenshots", required=True)
args = ap.parse_args()

passed, failed = 0, []


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failed.append(what)
        print("FAIL:", what, flush=True)


daemon = urllib.parse.urlsplit(args.daemon)
bridge = urllib.parse.urlsplit(args.bridge_login)
bridge_token = urllib.parse.parse_qs(bridge.query)["token"][0]


def raw(where, method, path, cookie=None, form=None, host=None, bearer=None):
    """One request with nothing added (no redirects followed, no cookie jar)."""
    c = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    headers = {"Host": host or where.netloc}
    if cookie:
        headers["Cookie"] = cookie
    if bearer:
        headers["Authorization"] = "Bearer " + bearer
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode("utf-8", "replace"))
    c.close()
    return out


def api(path):
    status, _, body = raw(daemon, "GET", path, bearer=args.token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def session_cookie(where, path):
    status, headers, _ = raw(where, "GET", path)
    assert status == 303, (where.netloc, path, status)
    return headers["set-cookie"].split(";")[0]


TASK_WORDS = ["colour", "count", "opposite"]

# --- Unauthenticated: the login page and nothing else, on the daemon and on the bridge.
for where, name in [(daemon, "daemon"), (bridge, "bridge")]:
    for path in ["/", "/ui", "/ui/versions/2", "/ui/matrix", "/ui/jobs", "/ui/store", "/ui/jobs/events"]:
        status, headers, body = raw(where, "GET", path)
        check(status == 401, f"{name} {path} without login: 401 (got {status})")
        check("Log in" in body and "<svg" not in body and not any(w in body for w in TASK_WORDS),
              f"{name} {path} without login shows only the login page")
    status, _, body = raw(where, "POST", "/ui/versions/1/rollback", form={"csrf": "x"})
    check(status == 401 and "Log in" in body, f"{name} POST without login refused with the login page ({status})")
check(raw(daemon, "GET", "/v1/versions")[0] == 401, "daemon API without token: 401")
check(raw(daemon, "GET", "/login?token=" + "0" * 32)[0] == 401, "daemon login with a wrong token: 401")
check(raw(bridge, "GET", "/login?token=" + "0" * 32)[0] == 401, "bridge login with a wrong token: 401")
check(raw(bridge, "GET", "/login?token=" + args.token)[0] == 401, "bridge login with the daemon's token: 401 (it has its own)")
check(raw(bridge, "GET", bridge.path + "?" + bridge.query, host=f"evil.example:{bridge.port}")[0] == 421,
      "bridge refuses a foreign Host (DNS rebinding)")

# --- POST without (or with a wrong) CSRF token, with a valid session: refused, head unchanged.
head_before = api("/v1/status")["head"]
for where, login in [(daemon, f"/login?token={args.token}"), (bridge, bridge.path + "?" + bridge.query)]:
    cookie = session_cookie(where, login)
    check(raw(where, "GET", "/ui", cookie=cookie)[0] == 200, f"{where.netloc}: the session cookie opens /ui")
    for form in [{}, {"csrf": "forged"}]:
        status, _, _ = raw(where, "POST", "/ui/versions/1/rollback", cookie=cookie, form=form)
        check(status == 403, f"{where.netloc}: POST rollback with csrf={form.get('csrf')} refused with 403 (got {status})")
check(api("/v1/status")["head"] == head_before, "head did not move on refused POSTs")

# --- The browser.
opts = webdriver.ChromeOptions()
opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,1300",
          "--force-device-scale-factor=1", "--hide-scrollbars", "--force-color-profile=srgb", "--lang=en-US"]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=opts)
driver.set_page_load_timeout(30)


def console_errors():
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def load(url, what):
    driver.get(url)
    errors = console_errors()
    check(not errors, f"{what}: no console errors ({errors[:3]})")
    check(driver.title.endswith("RecallRegistry") or "RecallRegistry" in driver.title, f"{what}: title '{driver.title}'")


def rollback_from_page(n):
    """Clicks the page's rollback button and waits for the answer's page (a new document)."""
    button = driver.find_element(By.CSS_SELECTOR, f'form[action="/ui/versions/{n}/rollback"] button')
    button.click()
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(button))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
    return urllib.parse.urlsplit(driver.current_url).path == f"/ui/versions/{n}"


def cells(selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


try:
    # In a browser with no session: the login page only.
    driver.get(args.daemon + "/ui")
    check(driver.title.startswith("Log in") and not cells("svg"), "browser without login sees the login page")
    driver.get(f"{bridge.scheme}://{bridge.netloc}/ui")
    check(driver.title.startswith("Log in") and not cells("svg"), "browser without the bridge token sees its login page")
    driver.get_log("browser")  # those 401s were the point; the pages below must log nothing

    # --- Through the bridge: log in, watch a register happen live on the jobs page (SSE).
    driver.get(args.bridge_login)
    check(urllib.parse.urlsplit(driver.current_url).path == "/ui", f"bridge login lands on /ui ({driver.current_url})")
    jobs_before = {j["id"] for j in api("/v1/jobs")}
    load(f"{bridge.scheme}://{bridge.netloc}/ui/jobs", "bridge /ui/jobs")
    subprocess.run(args.register + ["--no-wait"], check=True, stdout=subprocess.DEVNULL)
    new = [j for j in api("/v1/jobs") if j["id"] not in jobs_before]
    check(len(new) == 1, "one new job queued")
    if new:
        jid = new[0]["id"]
        try:
            WebDriverWait(driver, 120, 0.25, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-job="{jid}"]')
                and d.find_element(By.CSS_SELECTOR, f'tr[data-job="{jid}"] td:nth-child(2)').text == "succeeded")
            check(True, "the jobs page showed the new job live until it succeeded (SSE through the bridge)")
        except Exception as e:  # noqa: BLE001
            check(False, f"the jobs page did not show job {jid} succeed live: {e}")
        check(api(f"/v1/jobs/{jid}")["state"] == "succeeded", "the API agrees the job succeeded")
    check(not console_errors(), "jobs page: no console errors while streaming")

    # Rollback through the bridge (the daemon's CSRF token travels in the page's form).
    history = api("/v1/versions")
    last = history[-1]["version"]
    load(f"{bridge.scheme}://{bridge.netloc}/ui/versions/{last - 1}", f"bridge /ui/versions/{last - 1}")
    check(rollback_from_page(last - 1), "the bridge's rollback answer leads back to the version's page")
    check(api("/v1/status")["head"] == last - 1, f"rollback through the bridge moved head to {last - 1}")

    # --- On the daemon's TCP listener: log in, every page, the API's numbers.
    driver.get(f"{args.daemon}/login?token={args.token}")
    check(urllib.parse.urlsplit(driver.current_url).path == "/ui", "daemon login lands on /ui")
    history = api("/v1/versions")
    evaluations = api("/v1/evaluations")
    status = api("/v1/status")
    os.makedirs(args.screenshots, exist_ok=True)

    # Lineage.
    load(args.daemon + "/ui", "/ui")
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in cells("main table tbody tr")]
    want = [[str(v["version"]), v["task"] or "base", v["method"], v["created_at"], ", ".join(v["tags"]),
             "head" if v["head"] else (f"gated: {v['gate_reason']}" if v["gated"] else "")] for v in history]
    check(rows == want, f"lineage table equals /v1/versions ({rows} vs {want})")
    nodes = cells("#lineage g.node")
    check(sorted(int(n.get_attribute("data-version")) for n in nodes) == [v["version"] for v in history], "one graph node per version")
    check([n.get_attribute("data-version") for n in cells("#lineage g.node[data-head]")] == [str(status["head"])], "the head node is the API's head")
    edges = {(int(e.get_attribute("data-from")), int(e.get_attribute("data-to"))) for e in cells("#lineage path.edge")}
    check(edges == {(v["parent"], v["version"]) for v in history if v["parent"] is not None}, "edges are the API's parent -> child")
    # Pan/zoom from the keyboard.
    box = driver.find_element(By.ID, "lineage-view")
    driver.execute_script("arguments[0].focus()", box)  # a click could land on a node's link
    scale = lambda: float(box.get_attribute("data-scale"))  # noqa: E731
    viewbox = lambda: [float(x) for x in driver.find_element(By.ID, "lineage").get_dom_attribute("viewBox").split()]  # noqa: E731
    s0 = scale()
    box.send_keys("+")
    check(scale() > s0, f"+ zooms in ({s0} -> {scale()})")
    for _ in range(8):
        box.send_keys("+")
    box.send_keys("\ue011")  # Home
    x0 = viewbox()[0]
    box.send_keys("\ue014")  # ArrowRight
    check(viewbox()[0] > x0, f"ArrowRight pans right ({x0} -> {viewbox()[0]})")
    box.send_keys("-")
    check(scale() < 4, "- zooms out")
    box.send_keys("0")
    vb = viewbox()
    svg_w = float(driver.find_element(By.ID, "lineage").get_dom_attribute("width"))
    check(abs(vb[2] - svg_w / scale()) < 1 and scale() <= 1, "0 fits the whole lineage")
    static = raw(daemon, "GET", "/ui", cookie=session_cookie(daemon, f"/login?token={args.token}"))[2]
    check(static.count('<g class="node"') == len(history) and "viewBox=" in static, "without script the lineage is a static SVG with every node")
    driver.find_element(By.CSS_SELECTOR, '.zoom-controls button[data-zoom="head"]').click()
    driver.save_screenshot(os.path.join(args.screenshots, "lineage.png"))

    # Every version page: heatmap cells = layers x weighted inputs, values = the API's.
    for v in history:
        n = v["version"]
        load(f"{args.daemon}/ui/versions/{n}", f"/ui/versions/{n}")
        detail = api(f"/v1/versions/{n}")
        weights = [w for row in detail.get("layer_weights", []) for w in row["weights"].values()]
        layers = len(detail.get("layer_weights", []))
        inputs = [i for i in detail["inputs"] if i["role"] != "base"]
        shown = cells("#layer-weights rect.cell")
        check(len(shown) == layers * len(inputs) == len(weights),
              f"v{n}: heatmap has one cell per (layer, model): {len(shown)} = {layers} x {len(inputs)}")
        check(sorted(c.get_attribute("data-value") for c in shown) == sorted(f"{w:.3f}" for w in weights),
              f"v{n}: heatmap values equal the API's layer weights")
        titles = [c.find_element(By.TAG_NAME, "title").get_attribute("textContent") for c in shown[:3]]
        check(all(t.endswith(c.get_attribute("data-value")) for t, c in zip(titles, shown)), f"v{n}: hover text carries the value")
        row = next((r for r in evaluations["versions"] if r["version"] == n), None)
        if row:
            body = driver.find_element(By.TAG_NAME, "body").text
            for task, acc in row["accuracy"].items():
                if acc is not None:
                    check(f"{acc * 100:.1f}%" in body, f"v{n}: shows {task} accuracy {acc * 100:.1f}% as the API")
        if n == history[-1]["version"]:
            driver.save_screenshot(os.path.join(args.screenshots, "version.png"))

    # Accuracy matrix.
    load(args.daemon + "/ui/matrix", "/ui/matrix")
    shown = {(c.get_attribute("data-row"), c.get_attribute("data-column")): c.get_attribute("data-value") for c in cells("#accuracy-matrix rect.cell")}
    want = {(f"v{r['version']}", t): f"{a:.3f}" for r in evaluations["versions"] for t, a in r["accuracy"].items() if a is not None}
    check(shown == want and len(want) > 0, f"accuracy matrix cells equal /v1/evaluations ({len(shown)} cells)")
    driver.save_screenshot(os.path.join(args.screenshots, "matrix.png"))

    # Jobs.
    load(args.daemon + "/ui/jobs", "/ui/jobs")
    time.sleep(1)  # let the first server-sent event replace the rows
    jobs = api("/v1/jobs")[:50]
    shown = [(int(tr.get_attribute("data-job")), tr.find_elements(By.TAG_NAME, "td")[1].text) for tr in cells("#jobs tbody tr")]
    check(shown == [(j["id"], j["state"]) for j in jobs], f"jobs table equals /v1/jobs ({shown})")
    check(not console_errors(), "/ui/jobs: no console errors after live updates")
    driver.save_screenshot(os.path.join(args.screenshots, "jobs.png"))

    # Store.
    load(args.daemon + "/ui/store", "/ui/store")
    text = driver.find_element(By.TAG_NAME, "main").text
    st = status["store"]
    check(f"{st['logical_bytes'] // 1_000_000} MB raw, {st['stored_bytes'] // 1_000_000} MB stored" in text, "store page totals equal /v1/status")
    check(f"{status['models']} models" in text, "store page model count equals /v1/status")
    check(len(cells("main table tbody tr")) == len(history), "one store row per version")
    driver.save_screenshot(os.path.join(args.screenshots, "store.png"))

    # Rollback from the page on TCP: head moves (checked through the API).
    target = history[1]["version"]
    load(f"{args.daemon}/ui/versions/{target}", f"/ui/versions/{target}")
    check(rollback_from_page(target), "the rollback answer leads back to the version's page")
    check(api("/v1/status")["head"] == target, f"rollback from the page moved head to {target}")
    check(not console_errors(), "no console errors after the rollback")
finally:
    driver.quit()

print(f"ui-test: {passed} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
