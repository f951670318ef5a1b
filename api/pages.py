"""The public web page: anyone checks a citizen's points and badges, no account needed.

Plain HTML and a few lines of script over the public /v1/verify API; every figure links to the
transaction it comes from, so a reader can check it on any block explorer or node.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from .deps import CtxDep

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def verify_page(ctx: CtxDep) -> str:
    deployment = ctx.ledger.deployment
    return (
        _PAGE.replace("{chain_id}", str(deployment.chain_id))
        .replace("{points}", deployment.points_address)
        .replace("{badges}", deployment.badges_address)
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Civic participation ledger: verify</title>
<style>
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
code{background:#eef;padding:0 .2rem;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;font-size:.92rem}
.ok{color:#0a6d2a}.bad{color:#b00020}#error{color:#b00020}
</style></head>
<body>
<h1>Civic participation ledger</h1>
<p>ESG reward points for plogging outings and attendance badges for city events, recorded on
chain <code>{chain_id}</code>. Check anyone's record here without an account; every line names the
transaction it comes from.</p>
<ul><li>Points contract: <code>{points}</code></li><li>Badges contract: <code>{badges}</code></li></ul>
<form id="form"><label for="address">Citizen address</label>
<input id="address" name="address" size="44" placeholder="0x..." autocomplete="off" required>
<button type="submit">Verify</button></form>
<p id="error" role="alert"></p>
<section id="result" hidden>
<h2>Points: <span id="balance"></span></h2>
<p id="consistency"></p>
<h3>Activities</h3><table id="activities"><thead><tr><th>activity</th><th>points</th>
<th>steps</th><th>litter (g)</th><th>transaction</th><th>block</th><th>status</th></tr></thead><tbody></tbody></table>
<h3>Badges</h3><table id="badges"><thead><tr><th>event</th><th>transaction</th><th>block</th>
<th>status</th></tr></thead><tbody></tbody></table>
</section>
<p><a href="/docs">API documentation (OpenAPI)</a></p>
<script>
const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
const row = (values) => {
  const tr = document.createElement("tr"); values.forEach(v => tr.appendChild(cell(v))); return tr;
};
async function verify(address) {
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/v1/verify/citizens/" + encodeURIComponent(address.trim()));
  const body = await response.json();
  if (!response.ok) { error.textContent = body.error.message; document.getElementById("result").hidden = true; return; }
  document.getElementById("balance").textContent = body.balance;
  const consistency = document.getElementById("consistency");
  consistency.textContent = body.verified
    ? "Verified: the records listed add up to " + body.rebuilt_balance + ", the balance the contract holds."
    : "Not verified: " + body.checks.filter(c => c.outcome !== "passed").map(c => c.detail).join("; ");
  consistency.className = body.verified ? "ok" : "bad";
  const activities = document.querySelector("#activities tbody");
  activities.replaceChildren(...body.activities.map(a => row([a.activity_id,
    a.reversed ? a.points + " (reversed)" : a.points,
    a.steps, a.litter_grams, a.ref.tx_hash, a.ref.block_number, a.ref.finality])));
  const badges = document.querySelector("#badges tbody");
  badges.replaceChildren(...body.badges.map(b => row([b.event_id, b.ref.tx_hash, b.ref.block_number, b.ref.finality])));
  document.getElementById("result").hidden = false;
  history.replaceState(null, "", "?address=" + encodeURIComponent(address.trim()));
}
document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault(); verify(document.getElementById("address").value);
});
const given = new URLSearchParams(location.search).get("address");
if (given) { document.getElementById("address").value = given; verify(given); }
</script>
</body></html>
"""
