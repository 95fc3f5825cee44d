"""Screenshots of an ``nndl playground`` page for the docs, in headless Chromium.

Draws a digit on the pad and runs the neuron's second preset (quadratic cost
from (w, b) = (2, 2)) to its end, then saves the whole page at 1280 px wide
and at a phone's 375 px:

    nndl playground --model M.json --metrics RUN.json --out /tmp/page.html
    python scripts/playground_screenshots.py /tmp/page.html docs/playground.png docs/playground-phone.png

Needs Selenium (the 'test' extra) and Debian's chromium and chromium-driver.
"""

import argparse
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select

SEVEN = [(0.28, 0.22), (0.72, 0.22), (0.6, 0.45), (0.5, 0.65), (0.44, 0.82)]


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--force-device-scale-factor=1", "--window-size=1280,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def prepare(driver, page):
    """Open the page, run the slow quadratic preset, draw a seven."""
    driver.get(Path(page).resolve().as_uri())
    time.sleep(0.5)
    neuron = driver.find_element("css selector", "[data-widget='neuron']")
    Select(neuron.find_element("css selector", "select[id$='speed']")).select_by_value("1000")
    neuron.find_element("css selector", "button[data-preset='1']").click()
    neuron.find_element("css selector", "button.nndl-run").click()
    time.sleep(0.6)
    pad = driver.find_element("css selector", "canvas.nndl-pad")
    driver.execute_script("arguments[0].scrollIntoView()", pad)
    size = pad.size
    chain = ActionChains(driver, duration=10)
    first, *rest = [(int((x - 0.5) * size["width"]), int((y - 0.5) * size["height"])) for x, y in SEVEN]
    chain.move_to_element_with_offset(pad, *first).click_and_hold()
    for p in rest:
        chain.move_to_element_with_offset(pad, *p)
    chain.release().perform()
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)


def full_page(driver, path, width, mobile=False):
    """Save the whole page at ``width`` CSS pixels."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": mobile})
    time.sleep(0.3)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    print(f"wrote {path} ({width} x {height})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page")
    ap.add_argument("wide", type=Path)
    ap.add_argument("phone", type=Path)
    args = ap.parse_args()
    driver = browser()
    try:
        prepare(driver, args.page)
        full_page(driver, args.wide, 1280)
        full_page(driver, args.phone, 375, mobile=True)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            raise SystemExit(f"console errors: {errors}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
