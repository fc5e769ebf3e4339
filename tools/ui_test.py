"""`make test-ui`: the registry's web pages in a real browser (Debian's chromium, headless, driven
by selenium through chromium-driver), against a daemon that tools/test-ui.sh started on the tiny
fixture models, on TCP (token + login cookie) and through `recallctl ui` (the loopback bridge).

Checks: every page loads without console errors; the numbers shown equal the API's JSON (lineage
edges parent -> child and task model -> version, rollback events, evaluation rows, mean and BWT,
gate decisions, store sizes per version, job phase and progress, export files, the reproduce
commands); the heatmap has one cell per (layer, model) and a table alternative; pan/zoom answers
the keyboard; rollback and tag from the page reach the API; an unauthenticated request gets nothing but the login page; a POST
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
    rollbacks_done = [(last - 1, last)]  # (to, from): the lineage page must show each as an event

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
             "; ".join((["head"] if v["head"] else []) + ([f"gated: {v['gate_reason']}"] if v["gated"] else []))] for v in history]
    check(rows == want, f"lineage table equals /v1/versions ({rows} vs {want})")
    nodes = cells("#lineage g.node")
    check(sorted(int(n.get_attribute("data-version")) for n in nodes) == [v["version"] for v in history], "one graph node per version")
    check([n.get_attribute("data-version") for n in cells("#lineage g.node[data-head]")] == [str(status["head"])], "the head node is the API's head")
    details = {v["version"]: api(f"/v1/versions/{v['version']}") for v in history}
    edges = {(int(e.get_attribute("data-from")), int(e.get_attribute("data-to"))) for e in cells("#lineage path.edge")}
    check(edges == {(v["parent"], v["version"]) for v in history if v["parent"] is not None}, "solid edges are the API's parent -> child")
    task_edges = {(int(e.get_attribute("data-model")), int(e.get_attribute("data-to"))) for e in cells("#lineage path.task-edge")}
    want_task_edges = {(i["model_id"], n) for n, d in details.items() for i in d["inputs"] if i["role"] == "new"}
    check(task_edges == want_task_edges and len(want_task_edges) == len(history) - 1,
          f"dashed edges are the API's task model -> merged version (inputs with role new): {task_edges} vs {want_task_edges}")
    check(not task_edges & edges, "task-model edges are drawn apart from parent -> child edges")
    check(len(cells("#lineage g.task-model")) == len(want_task_edges), "one task-model mark per register")
    check(history[1]["tags"] == ["reviewed"] and rows[1][4] == "reviewed", "the tag made by test-ui.sh shows in the lineage table")
    check(any(v["gated"] for v in history) and any("gated: " in r[5] for r in rows), "a gated version is in the lineage table with its reason")
    # Screen readers: the graph is a group whose node links say what each version is (role=img would hide them).
    check(driver.find_element(By.ID, "lineage").get_attribute("role") == "group", "the lineage SVG is a group, not an img")
    labels = [a.get_attribute("aria-label") for a in cells("#lineage a")]
    check(len(labels) == len(history) and all(lab and lab.startswith(f"version {v['version']}:") for lab, v in zip(labels, history)),
          f"every node link has an aria-label naming its version ({labels[:2]})")
    # Dark and light: a gated node is an outline on the page's background, so its number must read
    # against that background (it was dark on dark in dark mode).
    for scheme in ["dark", "light"]:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        contrast = driver.execute_script("""
          const lum = c => { const v = c.match(/[0-9.]+/g).slice(0, 3).map(x => { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
                             return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
          const text = document.querySelector('#lineage g.node[data-gated] text');
          const a = lum(getComputedStyle(text).fill), b = lum(getComputedStyle(document.body).backgroundColor);
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);""")
        check(contrast >= 4.5, f"{scheme} mode: a gated node's number has contrast {contrast:.1f} >= 4.5 against the page")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    # The rollback the test made through the bridge: a marker on its target and a line in the event list.
    def rollback_events():
        return [(int(li.get_attribute("data-version")), int(li.get_attribute("data-from"))) for li in cells("#rollbacks li")]
    check(rollback_events() == rollbacks_done, f"the event list shows the bridge's rollback ({rollback_events()} vs {rollbacks_done})")
    check([m.get_attribute("data-version") for m in cells("#lineage g.rollback-marker")] == [str(rollbacks_done[0][0])],
          "a rollback marker on the version head was rolled back to")
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
        hidden = cells("#layer-weights-table tbody tr")
        check(len(hidden) == layers and all(len(tr.find_elements(By.TAG_NAME, "td")) == len(inputs) for tr in hidden),
              f"v{n}: the heatmap's table alternative has a row per layer and a cell per input")
        # This version's evaluation row, cell by cell (not anywhere on the page).
        row = next((r for r in evaluations["versions"] if r["version"] == n), None)
        if row:
            shown_row = [tr for tr in cells('section[aria-labelledby="h-acc"] table tbody tr')
                         if tr.find_element(By.TAG_NAME, "th").text.split(" ")[0] == str(n)]
            check(len(shown_row) == 1, f"v{n}: one evaluation row for the version")
            if shown_row:
                got = [td.text for td in shown_row[0].find_elements(By.TAG_NAME, "td")]
                want = [f"{row['accuracy'][t] * 100:.1f}%" if row["accuracy"].get(t) is not None else "-" for t in evaluations["tasks"]]
                check(got == want, f"v{n}: evaluation row equals /v1/evaluations ({got} vs {want})")
        # Export: downloads of the API's file list through the session, never a server path.
        links = cells("#export-files a")
        files = api(f"/v1/versions/{n}/files")["files"]
        check([a.text for a in links] == files, f"v{n}: export links are /v1/versions/{n}/files ({[a.text for a in links]})")
        check(all(urllib.parse.urlsplit(a.get_attribute("href")).path == f"/ui/versions/{n}/files/{a.text}" and a.get_attribute("download") for a in links),
              f"v{n}: each export link is a download of the version's file")
        if n == history[-1]["version"]:
            page_cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
            got = raw(daemon, "GET", f"/ui/versions/{n}/files/config.json", cookie=page_cookie)
            status_code, _, want_body = raw(daemon, "GET", f"/v1/versions/{n}/files/config.json", bearer=args.token)
            check(got[0] == 200 and status_code == 200 and got[2] == want_body and "attachment" in got[1].get("content-disposition", ""),
                  f"v{n}: the export link downloads the same config.json as the API")
        # The commands that reproduce the merge, as provenance recorded them.
        reproduce = driver.find_element(By.ID, "reproduce").text.splitlines()
        want = ["recallctl init BASE_DIR --method recall --scenario experts --opt clusters=4"]
        if detail["parent"] is not None:
            new_model = next(i["name"] for i in detail["inputs"] if i["role"] == "new")
            line = f"recallctl register {new_model} --task {detail['task']} --samples samples.jsonl"
            if new_model != "count-as-colour":
                line += " --eval eval.jsonl"
            line += f" --parent {detail['parent']}"
            if new_model == "count-as-colour":
                line += " --gate 5"
            want.append(line)
        check(reproduce == want, f"v{n}: the reproduce commands are {want} (got {reproduce})")
        check("samples.jsonl" in driver.find_element(By.ID, "reproduce-files").text or detail["parent"] is None,
              f"v{n}: the page says which file names the user must supply")
        if n == history[-1]["version"]:
            driver.save_screenshot(os.path.join(args.screenshots, "version.png"))

    # Accuracy matrix.
    load(args.daemon + "/ui/matrix", "/ui/matrix")
    shown = {(c.get_attribute("data-row"), c.get_attribute("data-column")): c.get_attribute("data-value") for c in cells("#accuracy-matrix rect.cell")}
    want = {(f"v{r['version']}", t): f"{a:.3f}" for r in evaluations["versions"] for t, a in r["accuracy"].items() if a is not None}
    check(shown == want and len(want) > 0, f"accuracy matrix cells equal /v1/evaluations ({len(shown)} cells)")
    # The matrix as a table too (the heatmap is one image to a screen reader), row by row.
    table = [[tr.find_element(By.TAG_NAME, "th").text] + [td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in cells("#accuracy-table tbody tr")]
    want_table = [[f"{r['version']}" + (" (gated)" if r["gated"] else "")] + [f"{r['accuracy'][t] * 100:.1f}%" if r["accuracy"].get(t) is not None else "-" for t in evaluations["tasks"]]
                  for r in evaluations["versions"]]
    check(table == want_table, f"the matrix page's table equals /v1/evaluations ({table} vs {want_table})")
    # Mean and BWT per version, from /v1/evaluations (FusionBench's BWT: mean over the tasks seen before
    # the last of accuracy now minus accuracy right after the task was added), and the gate's decisions.
    rows_e = sorted(evaluations["versions"], key=lambda r: r["version"])
    added = []
    for r in rows_e:
        t = r["task"]
        if t and r["accuracy"].get(t) is not None and t not in [a[0] for a in added]:
            added.append((t, r["version"], r["accuracy"][t]))
    by_version = {v["version"]: v for v in history}
    summary = {int(tr.get_attribute("data-version")): [td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in cells("#accuracy-summary tbody tr")}
    check(sorted(summary) == [r["version"] for r in rows_e], "one summary row per evaluated version")
    bwt_seen = 0
    for r in rows_e:
        accs = [r["accuracy"][t] for t in evaluations["tasks"] if r["accuracy"].get(t) is not None]
        seen = [a for a in added if a[1] <= r["version"]]
        deltas = [r["accuracy"][t] - a0 for t, _, a0 in seen[:-1] if r["accuracy"].get(t) is not None]
        bwt = f"{sum(deltas) / len(deltas):.3f}" if len(seen) >= 2 and deltas else "-"
        bwt_seen += bwt != "-"
        gate = f"gated: {by_version[r['version']]['gate_reason']}" if r["gated"] else "not gated"
        want_row = [r["task"] or "-", f"{sum(accs) / len(accs):.3f}" if accs else "-", bwt, gate]
        check(summary.get(r["version"]) == want_row, f"v{r['version']}: mean, BWT and gate equal the API's ({summary.get(r['version'])} vs {want_row})")
    check(bwt_seen >= 2, f"BWT is defined on at least two versions ({bwt_seen})")
    points = {c.get_attribute("data-x"): c.get_attribute("data-value") for c in cells('#accuracy-mean circle.point[data-series="BWT"]')}
    check(points and all(summary[int(x[1:])][2] == val for x, val in points.items()), "the BWT line's points are the table's BWT")
    driver.save_screenshot(os.path.join(args.screenshots, "matrix.png"))

    # Jobs.
    load(args.daemon + "/ui/jobs", "/ui/jobs")
    time.sleep(1)  # let the first server-sent event replace the rows
    jobs = api("/v1/jobs")[:50]
    shown = [tuple([int(tr.get_attribute("data-job"))] + [td.text for td in tr.find_elements(By.TAG_NAME, "td")[1:4]]) for tr in cells("#jobs tbody tr")]
    want = [(j["id"], j["state"], j["phase"] or "", f"{int(j['progress'] * 100 + 0.5)}%") for j in jobs]
    check(shown == want, f"jobs table (state, phase, progress) equals /v1/jobs ({shown} vs {want})")
    check(not console_errors(), "/ui/jobs: no console errors after live updates")
    driver.save_screenshot(os.path.join(args.screenshots, "jobs.png"))

    # Store.
    load(args.daemon + "/ui/store", "/ui/store")
    def size(b):
        return f"{b / 1e3:.1f} KB" if b < 1_000_000 else f"{b / 1e6:.2f} MB"
    text = driver.find_element(By.ID, "store-totals").text
    st = status["store"]
    check(f"{status['models']} models, {size(st['logical_bytes'])} raw, {size(st['stored_bytes'])} stored" in text,
          f"store page totals equal /v1/status ({text})")
    store_rows = cells("#store-versions tbody tr")
    check(len(store_rows) == len(history), "one store row per version")
    for tr in store_rows:
        n = int(tr.get_attribute("data-version"))
        m = details[n]["model"]
        got = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        unique = m["unique_bytes"]
        ratio = lambda a, b: f"{a / b:.2f}×" if a is not None and b else "-"  # noqa: E731
        want = [str(n), m["name"], size(m["raw_bytes"]), size(unique) if unique is not None else "-", size(m["stored_bytes"]),
                ratio(m["raw_bytes"], unique), ratio(unique, m["stored_bytes"])]
        check(got == want, f"store row v{n} equals /v1/versions/{n} ({got} vs {want})")
    check(any(float(tr.find_elements(By.TAG_NAME, "td")[2].text.split()[0]) > 0 for tr in store_rows), "sizes are not all shown as 0")
    check(all(details[v["version"]]["model"]["unique_bytes"] is not None for v in history), "the API records every model's unique bytes")
    check(st["unique_bytes"] is not None and f"deduplication {st['logical_bytes'] / st['unique_bytes']:.2f}×, compression {st['unique_bytes'] / st['stored_bytes']:.2f}×" in text,
          f"the totals give the deduplication and compression ratios apart, from /v1/status ({text})")
    driver.save_screenshot(os.path.join(args.screenshots, "store.png"))

    # Rollback from the page on TCP: head moves (checked through the API).
    target = history[1]["version"]
    load(f"{args.daemon}/ui/versions/{target}", f"/ui/versions/{target}")
    check(rollback_from_page(target), "the rollback answer leads back to the version's page")
    check(api("/v1/status")["head"] == target, f"rollback from the page moved head to {target}")
    rollbacks_done.append((target, rollbacks_done[-1][0]))
    check(not console_errors(), "no console errors after the rollback")
    # Tag from the page (its form carries the session's CSRF token): the API sees the tag.
    tag_input = driver.find_element(By.CSS_SELECTOR, f'form[action="/ui/versions/{target}/tag"] input[name="name"]')
    tag_input.send_keys("from-page")
    submit = driver.find_element(By.CSS_SELECTOR, f'form[action="/ui/versions/{target}/tag"] button')
    submit.click()
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(submit))
    check("from-page" in next(v for v in api("/v1/versions") if v["version"] == target)["tags"], f"tag from the page reached the API (version {target})")
    # The lineage after this run's two rollbacks: both events, in order, and markers on both targets.
    load(args.daemon + "/ui", "/ui after the rollbacks")
    check(rollback_events() == rollbacks_done, f"the event list shows both rollbacks in order ({rollback_events()} vs {rollbacks_done})")
    check(sorted(m.get_attribute("data-version") for m in cells("#lineage g.rollback-marker")) == sorted({str(t) for t, _ in rollbacks_done}),
          "a rollback marker on each version head was rolled back to")
finally:
    driver.quit()

print(f"ui-test: {passed} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
