"""``nndl playground``: the page, in a real browser (Selenium driving Debian's
headless Chromium), computes the same numbers as nndl's Python.

* the neuron's output and cost after N epochs = ``experiments.slowdown.learn``;
* softmax = ``nndl.activations.Softmax``;
* the JavaScript digit preprocessing = ``nndl.images.preprocess`` (within
  1/255), and a drawn stroke's digit = ``nndl predict`` on the same image;
* no console error, no request beyond the page's own file, a non-blank
  screenshot, no sideways scrolling at phone width.

Without chromium and chromedriver the browser tests fail, saying what to
install; they never skip.
"""

import base64
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from nndl.activations import Softmax
from nndl.cli import main
from nndl.costs import CrossEntropyCost, QuadraticCost
from nndl.errors import ConfigError, ImageError
from nndl.experiments.slowdown import learn
from nndl.images import load_digit, preprocess
from nndl.network import Network
from nndl.persistence import save
from nndl.playground import FLOAT32_LIMIT, model_payload, render_page, write_page
from test_images import DEFECTS, faint_stripes, font_digit, to_bytes

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


# ----------------------------------------------------------------- fixtures
def need_browser():
    """Fail (never skip) when the browser or Selenium is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: the playground's browser tests need them "
                    "(apt-get install chromium chromium-driver; .ci/run does this)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,1600", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER if Path(CHROMEDRIVER).exists()
                                              else shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """An untrained, seeded [784, 30, 10] network saved as JSON."""
    path = tmp_path_factory.mktemp("model") / "random.json"
    save(Network([784, 30, 10], seed=3, dtype="float64"), path)
    return path


@pytest.fixture(scope="module")
def metrics_file(tmp_path_factory):
    """A small metrics document in the schema nndl train writes."""
    path = tmp_path_factory.mktemp("metrics") / "run.json"
    epochs = [{"epoch": k, "train_seconds": 1.0, "eta": 0.5,
               "training_accuracy": 0.80 + 0.04 * k, "evaluation_accuracy": 0.78 + 0.03 * k,
               "training_cost": 1.0 - 0.2 * k, "evaluation_cost": 1.1 - 0.15 * k} for k in range(4)]
    path.write_text(json.dumps({"config": {"evaluate_on": "validation"}, "epochs": epochs,
                                "test_accuracy": 0.871, "best_epoch": 3}))
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory, random_model, metrics_file):
    out = tmp_path_factory.mktemp("page") / "page.html"
    assert main(["playground", "--model", str(random_model), "--metrics", str(metrics_file),
                 "--out", str(out)]) == 0
    return out


def load(driver, path):
    """Open the page and wait until every widget is mounted."""
    driver.get(Path(path).resolve().as_uri())
    for _ in range(200):
        if driver.execute_script("return document.body && document.body.dataset.ready") == "true":
            return
        time.sleep(0.02)
    raise AssertionError(f"the page never finished mounting; console: {driver.get_log('browser')}")


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


# --------------------------------------------------------------- the page
def test_page_loads_with_no_console_error_and_no_outside_request(browser, page):
    browser.get("about:blank")
    browser.get_log("performance")      # forget anything logged before this page
    browser.get_log("browser")
    load(browser, page)
    assert console_errors(browser) == []
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert page.resolve().as_uri() in urls
    assert all(u == page.resolve().as_uri() or u.startswith("data:") for u in urls), urls
    for widget in ("neuron", "softmax", "draw", "weights", "curves"):
        node = browser.find_element("css selector", f"[data-widget='{widget}']")
        assert node.find_elements("css selector", "*"), f"{widget} widget is empty"
    html = page.read_text()
    assert "src=" not in html.replace("src='data:", "") and "@import" not in html


def test_neuron_presets_match_the_slowdown_experiment(browser, page):
    """Click each of the chapter's four presets and Run: after 300 epochs the
    page's output and cost equal nndl's learn() with the same eta."""
    load(browser, page)
    root = browser.find_element("css selector", "[data-widget='neuron']")
    from selenium.webdriver.support.ui import Select
    Select(root.find_element("css selector", "select[id$='speed']")).select_by_value("1000")
    expected = [(0.6, 0.9, 0.15, QuadraticCost), (2.0, 2.0, 0.15, QuadraticCost),
                (0.6, 0.9, 0.005, CrossEntropyCost), (2.0, 2.0, 0.005, CrossEntropyCost)]
    for i, (w, b, eta, cost) in enumerate(expected):
        root.find_element("css selector", f"button[data-preset='{i}']").click()
        assert root.get_attribute("data-epoch") == "0"
        root.find_element("css selector", "button.nndl-run").click()
        for _ in range(300):
            if root.get_attribute("data-epoch") == "300":
                break
            time.sleep(0.01)
        assert root.get_attribute("data-epoch") == "300"
        outputs, costs = learn(w, b, cost, eta=eta, epochs=300)
        assert float(root.get_attribute("data-output")) == pytest.approx(outputs[-1], rel=1e-9)
        assert float(root.get_attribute("data-cost")) == pytest.approx(costs[-1], rel=1e-9)
    # every epoch, for a start of the user's own
    js = browser.execute_script("return NNDL.learn(-1.3, 3.1, 'quadratic', 0.7, 120)")
    outputs, costs = learn(-1.3, 3.1, QuadraticCost, eta=0.7, epochs=120)
    np.testing.assert_allclose(js["outputs"], outputs, rtol=1e-9)
    np.testing.assert_allclose(js["costs"], costs, rtol=1e-9)
    assert console_errors(browser) == []


def test_softmax_sliders_by_keyboard_match_nndl_softmax(browser, page):
    from selenium.webdriver.common.keys import Keys
    load(browser, page)
    root = browser.find_element("css selector", "[data-widget='softmax']")
    ranges = root.find_elements("css selector", "input[type=range]")
    assert len(ranges) == 5                                  # z1..z4 and c
    ranges[0].send_keys(Keys.ARROW_RIGHT * 3)                # z1: 2.5 -> 2.8
    ranges[2].send_keys(Keys.ARROW_LEFT * 2)                 # z3: 3.2 -> 3.0
    ranges[4].send_keys(Keys.ARROW_RIGHT * 15)               # c: 1 -> 2.5
    z = np.array(json.loads(root.get_attribute("data-z")))
    c = float(root.get_attribute("data-c"))
    np.testing.assert_allclose(z, [2.8, -1, 3.0, 0.5])
    assert c == pytest.approx(2.5)
    a = np.array(json.loads(root.get_attribute("data-a")))
    np.testing.assert_allclose(a, Softmax.fn(c * z[None, :])[0], rtol=1e-12)
    shown = root.find_elements("css selector", "output")[0].text
    assert shown == f"a1 = {a[0]:.4f}"
    rng = np.random.default_rng(0)
    for _ in range(5):
        zs, cs = rng.uniform(-5, 5, size=4), float(rng.uniform(0.1, 20))
        js = browser.execute_script("return NNDL.softmax(arguments[0], arguments[1])", zs.tolist(), cs)
        np.testing.assert_allclose(js, Softmax.fn(cs * zs[None, :])[0], rtol=1e-12, atol=1e-300)


# ------------------------------------------------------- the preprocessing
def digit_images():
    """Gray images (uint8) that exercise every branch of the preprocessing:
    dark ink on light paper and the reverse, wide and tall boxes (one whose
    scaled side is a half, which Python rounds to even), a single dot, a box
    already 20 pixels long, uneven background, and the photographs' defects
    of tests/test_images.py (a speck, shading, noise that makes the mask be
    found on the averaged map, the paper's edge, all at once), a digit in
    two pieces, ink barely above the noise (the averaging square capped),
    and the choice of the digit's pieces."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:60, 0:50]
    ring = (np.abs(np.hypot(yy - 30, (xx - 25) * 1.4) - 14) < 3.5).astype(float)
    images = {"ring, dark on light": (255 - 200 * ring).astype(np.uint8),
              "ring, light on dark": (30 + 220 * ring).astype(np.uint8)}
    bar = np.zeros((40, 40)); bar[10:15, 5:13] = 1.0                       # 5 x 8: 12.5 -> 12
    images["5x8 bar (round half to even)"] = (255 * bar).astype(np.uint8)
    dot = np.full((30, 30), 250.0); dot[7, 21] = 0
    images["single dot"] = dot.astype(np.uint8)
    exact = np.zeros((28, 28)); exact[4:24, 10:16] = np.linspace(0.3, 1, 20)[:, None]
    images["box already 20 long"] = (255 * exact).astype(np.uint8)
    strokes = np.clip(rng.normal(0.1, 0.03, (90, 75)) + np.kron(ring, np.ones((2, 2)))[15:105, 10:85] * 0.8, 0, 1)
    images["noisy, uneven"] = (255 * strokes * np.linspace(0.7, 1, 75)).astype(np.uint8)
    for defect in ("speck", "shading", "noise", "paper edge", "all at once"):
        for d in (3, 4):
            images[f"{d} with {defect}"] = to_bytes(DEFECTS[defect](font_digit(d)))
    broken = np.full((200, 200), 255, np.uint8)
    broken[40:95, 90:110] = 0                                             # a "1" with a gap
    broken[105:160, 90:110] = 0
    images["broken stroke"] = broken
    r, c = np.mgrid[0:96, 0:96]
    faint = np.array([0.40, 0.44, 0.48, 0.52])[(r + c) % 4]
    faint[24:72, 38:57] += 0.06                          # a bar barely above the stripes:
    images["faint bar in stripes"] = to_bytes(255 * faint)   # the averaging square capped (54 -> 31)
    images.update(choice_images())
    return images


def choice_images():
    """Which pieces make the digit: each image changes if one rule changes."""
    i = np.full((120, 100), 240, np.uint8)
    i[40:100, 45:55] = 20                    # the stem,
    i[20:30, 45:55] = 20                     # its dot (1/6 of the stem's mass: kept)
    i[20:24, 70:74] = 20                     # and a speck (1/37: dropped)
    top = np.full((120, 120), 240, np.uint8)
    top[0:5, 55:65] = 20                     # heavier, but touching the top (weighed 0.7)
    top[5:30, 40:80] = 20
    top[60:84, 48:72] = 20                   # the digit
    far = np.full((200, 200), 240, np.uint8)
    far[10:40, 10:40] = 20                   # heavier, but far from the centre
    far[85:115, 86:114] = 20                 # the digit
    tail = np.full((120, 120), 240, np.uint8)
    tail[40:80, 40:60] = 20
    for k in range(30):                      # tails of pixels touching only diagonally
        tail[80 + k, 60 + k] = 20
        tail[80 + k, 39 - k // 2] = 20
    return {"an i, its dot and a speck": i, "a heavier piece touching the top": top,
            "a heavier piece far from the centre": far, "diagonal tails": tail}


def test_preprocessing_in_javascript_equals_nndl_images(browser, page):
    load(browser, page)
    for name, gray in digit_images().items():
        expected = preprocess(gray)
        js = browser.execute_script("var x = NNDL.preprocess(arguments[0], arguments[1], arguments[2]);"
                                    "return x && Array.from(x);", gray.ravel().tolist(), *gray.shape)
        assert js is not None, name
        diff = np.abs(np.asarray(js) - expected).max()
        assert diff <= 1 / 255, f"{name}: pixels differ by up to {diff}"
    edge = np.full((40, 40), 230, np.uint8)
    edge[:, -8:] = 40                                   # nothing but the paper's edge
    shaded = (230 * np.linspace(1, 0.5, 60) * np.ones((50, 1))).astype(np.uint8)   # its 8-bit steps
    for gray in (np.full((20, 20), 200, np.uint8), edge, shaded, to_bytes(255 * faint_stripes())):
        with pytest.raises(ImageError):                 # no digit: Python raises, JS gives null
            preprocess(gray)
        assert browser.execute_script("return NNDL.preprocess(arguments[0], arguments[1], arguments[2])",
                                      gray.ravel().tolist(), *gray.shape) is None


def draw_stroke(driver, pad, points):
    """Press, move through ``points`` (fractions of the pad), release."""
    from selenium.webdriver.common.action_chains import ActionChains
    size = pad.size
    chain = ActionChains(driver, duration=10)
    def offset(p):
        return int((p[0] - 0.5) * size["width"]), int((p[1] - 0.5) * size["height"])
    chain.move_to_element_with_offset(pad, *offset(points[0])).click_and_hold()
    for p in points[1:]:
        chain.move_to_element_with_offset(pad, *offset(p))
    chain.release().perform()


def pad_png(driver, root, path):
    data = driver.execute_script("return arguments[0].querySelector('canvas.nndl-pad').toDataURL('image/png')", root)
    path.write_bytes(base64.b64decode(data.split(",", 1)[1]))
    return path


def check_drawing_against_nndl_predict(driver, page, model, tmp_path, capsys):
    load(driver, page)
    root = driver.find_element("css selector", "[data-widget='draw']")
    pad = root.find_element("css selector", "canvas.nndl-pad")
    draw_stroke(driver, pad, [(0.3, 0.25), (0.7, 0.25), (0.55, 0.5), (0.45, 0.8)])   # a 7
    time.sleep(0.1)
    pixels = json.loads(root.get_attribute("data-pixels"))
    digit = root.get_attribute("data-digit")
    png = pad_png(driver, root, tmp_path / "drawn.png")
    assert np.abs(np.asarray(pixels) - load_digit(png)).max() <= 1 / 255
    capsys.readouterr()
    assert main(["predict", str(model), str(png)]) == 0
    said = capsys.readouterr().out.split(": ", 1)[1]          # "7  (0:0.01 1:0.00 ...)"
    assert digit == said.split()[0]
    listed = [float(item.split(":")[1]) for item in said.split("(")[1].rstrip(")\n").split()]
    probs = json.loads(root.get_attribute("data-probabilities"))
    np.testing.assert_allclose(probs, listed, atol=0.005 + 1e-9)   # predict prints 2 decimals
    assert sum(probs) == pytest.approx(1.0)
    root.find_element("css selector", "button.nndl-clear").click()
    assert root.get_attribute("data-digit") == ""
    assert console_errors(driver) == []
    return int(digit)


def test_drawn_stroke_is_seen_and_classified_as_nndl_predict_does(browser, page, random_model,
                                                                   tmp_path, capsys):
    check_drawing_against_nndl_predict(browser, page, random_model, tmp_path, capsys)


@pytest.mark.mnist
def test_drawn_digit_with_a_trained_model_agrees_with_nndl_predict(browser, mnist, tmp_path, capsys):
    from nndl.experiments.common import fit
    net, _ = fit(mnist.training.subset(3000), [784, 30, 10], 3, 0.5, seed=0)
    model = tmp_path / "trained.json"
    save(net, model)
    out, _ = write_page(tmp_path / "trained.html", model)
    check_drawing_against_nndl_predict(browser, out, model, tmp_path, capsys)


def test_float16_weights_decode_to_the_rounded_network(browser, tmp_path, random_model):
    from nndl.persistence import load as load_net
    out, payload = write_page(tmp_path / "half.html", random_model, encoding="float16")
    assert payload["encoding"] == "float16"
    load(browser, out)
    x = np.random.default_rng(2).random(784)
    js = browser.execute_script("return NNDL.forward(NNDL.decodeModel("
                                "JSON.parse(document.getElementById('nndl-data').textContent).model),"
                                " arguments[0])", x.tolist())
    net = load_net(random_model)
    a = x[None, :]
    for w, b in zip(net.weights, net.biases):
        a = 1 / (1 + np.exp(-(a @ w.astype(np.float16).astype(np.float64).T
                              + b.astype(np.float16).astype(np.float64).T)))
    np.testing.assert_allclose(js, a[0], rtol=1e-9)


# -------------------------------------------------- rendering and layout
def test_screenshot_shows_the_page_and_phone_width_does_not_scroll_sideways(browser, page):
    from io import BytesIO

    from PIL import Image
    try:
        load(browser, page)
        shot = np.asarray(Image.open(BytesIO(browser.get_screenshot_as_png())).convert("L"), float)
        assert shot.std() > 20 and (shot < 80).mean() > 0.005, "the screenshot is (nearly) blank"
        grid = browser.find_element("css selector", "[data-widget='weights'] canvas")
        assert grid.get_attribute("width") != "0"
        painted = browser.execute_script(
            "var c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "var n = 0; for (var i = 0; i < d.length; i += 4) { if (d[i] !== d[i + 2]) { n++; } } return n;", grid)
        assert painted > 1000                                  # red and blue weights drawn
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",   # a phone's 375 px
                                {"width": 375, "height": 800, "deviceScaleFactor": 1, "mobile": True})
        load(browser, page)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 375, f"the page is {width} px wide at phone width"
        font = browser.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)")
        assert font >= 14
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_typed_value_is_clamped_to_the_slider_and_used(browser, page):
    load(browser, page)
    root = browser.find_element("css selector", "[data-widget='neuron']")
    box = root.find_elements("css selector", "input[type=number]")[0]      # starting weight
    box.clear()
    box.send_keys("10\n")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", box)
    assert box.get_attribute("value") == "4"
    outputs, _ = learn(4.0, 0.9, QuadraticCost, eta=0.15, epochs=300)
    assert float(root.get_attribute("data-output")) == pytest.approx(outputs[0], rel=1e-12)


def test_open_hands_the_page_to_the_web_browser(tmp_path, monkeypatch, capsys):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    out = tmp_path / "p.html"
    assert main(["playground", "--out", str(out), "--open"]) == 0
    assert opened == [out.resolve().as_uri()]
    assert "neuron, softmax, draw a digit" in capsys.readouterr().out


# ------------------------------------------------------------ bad input
def test_a_model_that_is_not_an_mnist_classifier_is_refused_in_one_line(tmp_path, capsys):
    model = tmp_path / "small.json"
    save(Network([64, 10, 10], seed=0), model)
    out = tmp_path / "page.html"
    assert main(["playground", "--model", str(model), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "784 inputs" in err and "[64, 10, 10]" in err
    assert not out.exists()


def test_the_output_path_is_checked_before_the_model_is_read(tmp_path, capsys):
    for bad, why in ((tmp_path / "page.txt", ".html"), (tmp_path / "no" / "page.html", "does not exist"),
                     (tmp_path / "folder.html", "folder")):
        (tmp_path / "folder.html").mkdir(exist_ok=True)
        assert main(["playground", "--model", str(tmp_path / "missing.json"), "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert why in err and "missing.json" not in err, err


def test_bad_metrics_are_refused_and_an_existing_page_is_kept(tmp_path, random_model, capsys):
    out = tmp_path / "page.html"
    out.write_text("keep me")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert main(["playground", "--metrics", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "empty" in err
    assert out.read_text() == "keep me"


def test_a_large_network_fits_in_a_few_megabytes():
    """[784, 800, 800, 10] has 1.28 million parameters: stored as float16
    (automatically, above FLOAT32_LIMIT) the page is under 4 MB."""
    net = Network([784, 800, 800, 10], seed=0)
    payload = model_payload(net, "big.json")
    assert payload["encoding"] == "float16"
    size = len(render_page(payload).encode())
    assert 3.0e6 < size < 4.0e6, size
    small = model_payload(Network([784, 100, 10], seed=0), "small.json")
    assert small["encoding"] == "float32" and 784 * 100 < FLOAT32_LIMIT


def test_render_page_keeps_user_text_out_of_the_markup(tmp_path):
    evil = {"curves": {"evaluation_accuracy": [[1, 0.5]]}, "test_accuracy": None,
            "best_epoch": None, "evaluated_on": "validation", "label": "</script><script>alert(1)</script>"}
    html = render_page(None, [evil])
    assert "</script><script>alert(1)" not in html
    data = html.split("id='nndl-data'>", 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["runs"][0]["label"] == evil["label"]


def test_unknown_encoding_is_a_config_error(tmp_path, random_model):
    with pytest.raises(ConfigError, match="encoding"):
        write_page(tmp_path / "p.html", random_model, encoding="int4")
    assert not (tmp_path / "p.html").exists()


def test_the_page_inlines_the_packages_own_widget_files():
    """One implementation: the page carries widgets.js and page.css verbatim,
    so anything else that loads those files runs the same code."""
    from nndl.playground import asset
    page = render_page(None, [])
    assert asset("widgets.js") in page and asset("page.css") in page
    assert "var NNDL" in asset("widgets.js")
