"""The dashboard in a real browser (headless Chromium through chromedriver, both Debian's).

A desk's routine: an analyst signs in, injects a spoofing scenario into the running simulated
market, sees its alert arrive live, opens it, opens a case and proposes to close it as a violation;
a supervisor signs in and approves. Every page's screenshot is saved in the directory given.

    browser.py URL SCREENSHOT_DIR ANALYST PASSWORD SUPERVISOR PASSWORD
"""
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

base, shots, analyst, apw, supervisor, spw = sys.argv[1:7]
os.makedirs(shots, exist_ok=True)

opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"]:
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=opts)
# A form reloads its page when the server has answered: an element read in between is stale.
wait = WebDriverWait(driver, 180, ignored_exceptions=(StaleElementReferenceException,))
errors = []


def shot(name):
    """A screenshot of the whole page."""
    driver.execute_script("window.scrollTo(0, 0)")
    h = driver.execute_script("return Math.max(document.body.scrollHeight, 800)")
    driver.set_window_size(1400, min(h + 40, 4000))
    driver.save_screenshot(os.path.join(shots, name + ".png"))
    driver.set_window_size(1400, 1000)


def browser_errors():
    """Script errors in the console fail the test (a 404 favicon would too: there is none)."""
    for e in driver.get_log("browser"):
        # The bad filter asked on purpose answers 400.
        if e["level"] == "SEVERE" and "level=loud" not in e["message"]:
            errors.append(e["message"])


def sign_in(name, password):
    driver.get(base + "/")
    wait.until(EC.url_contains("/login"))
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "signin").click()
    wait.until(lambda d: "/login" not in d.current_url)
    assert name in driver.find_element(By.CSS_SELECTOR, "header .who").text


def sign_out():
    driver.find_element(By.ID, "signout").click()
    wait.until(EC.url_contains("/login"))


try:
    # A wrong password is refused with a message, and no session.
    driver.get(base + "/login")
    shot("login")
    driver.find_element(By.ID, "name").send_keys(analyst)
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.ID, "signin").click()
    assert "wrong" in wait.until(EC.presence_of_element_located((By.ID, "error"))).text

    sign_in(analyst, apw)
    # The dashboard counts events.
    wait.until(lambda d: d.find_element(By.ID, "eps").text not in ("", "0"))

    # Inject spoofing; the alert arrives live in the simulation page's table (no reload).
    driver.get(base + "/simulation")
    wait.until(EC.presence_of_element_located((By.ID, "inject")))
    Select(driver.find_element(By.ID, "scenario")).select_by_visible_text("spoofing")
    driver.execute_script("document.body.dataset.marker = 'same-page'")
    driver.find_element(By.ID, "inject-btn").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#injected td")))
    row = wait.until(EC.presence_of_element_located((By.XPATH, "//table[@id='alerts']/tbody/tr[td[2]/a[text()='spoofing']]")))
    assert driver.execute_script("return document.body.dataset.marker") == "same-page", "the alert came without a reload"
    shot("simulation")
    row.find_element(By.CSS_SELECTOR, "td:nth-child(2) a").click()

    # The alert: story, evidence beside thresholds, the market chart and the book replay.
    wait.until(EC.presence_of_element_located((By.ID, "story")))
    assert "spoofing" in driver.find_element(By.TAG_NAME, "h1").text
    assert driver.find_elements(By.CSS_SELECTOR, "#evidence .met"), "evidence shows thresholds met"
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#price-chart polygon.suspect-order")))
    wait.until(lambda d: "/" in d.find_element(By.ID, "replay-at").text)
    before = driver.find_element(By.ID, "replay-at").text
    driver.find_element(By.ID, "replay-next").click()
    assert driver.find_element(By.ID, "replay-at").text != before, "the replay steps"
    alert_url = driver.current_url
    shot("alert")
    account = driver.find_element(By.CSS_SELECTOR, "#accounts a").text

    # A case from it; propose closing it as a violation (four eyes).
    driver.find_element(By.ID, "open-case-btn").click()
    wait.until(EC.url_matches(r".*/cases/\d+$"))
    case_url = driver.current_url
    driver.find_element(By.ID, "investigate").click()
    wait.until(lambda d: d.find_element(By.ID, "case-status").text == "investigating")
    Select(driver.find_element(By.ID, "outcome")).select_by_visible_text("violation")
    driver.find_element(By.ID, "close-reason").send_keys("cancelled within a second of the opposite fill, repeatedly")
    driver.find_element(By.ID, "close").click()
    wait.until(EC.presence_of_element_located((By.ID, "proposals")))
    assert "waiting for a supervisor" in driver.find_element(By.ID, "proposals").text
    assert driver.find_element(By.ID, "case-status").text == "investigating"

    # The other pages, for the record.
    for name, path in [("dashboard", "/"), ("alerts", "/alerts"), ("trades", "/trades"), ("cases", "/cases"), ("account", "/accounts/" + account), ("settings", "/settings")]:
        driver.get(base + path)
        wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
        shot(name)
    # A bad filter is a 4xx naming the field, not a 500.
    driver.get(base + "/alerts?level=loud")
    assert "level" in driver.find_element(By.ID, "error").text
    sign_out()

    # The supervisor approves; the case closes as a violation.
    sign_in(supervisor, spw)
    driver.get(case_url)
    approve = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#proposals button[value='true']")))
    approve.click()
    wait.until(lambda d: d.find_element(By.ID, "case-status").text == "closed")
    assert driver.find_element(By.ID, "case-outcome").text == "violation"
    shot("case")
    browser_errors()
    sign_out()
finally:
    driver.quit()

if errors:
    print("browser errors:", errors)
    sys.exit(1)
print("ok", alert_url, case_url)
