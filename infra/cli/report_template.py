# ruff: noqa: E501 - an HTML template: its lines are markup, not code
"""The HTML incident report's template (Jinja2, autoescaped): one self-contained page.

Inline CSS and inline SVG only: no ``src``/``href`` to anything but this page's own
anchors, no ``@import``, no web font, no script, so a browser opens it offline and it
requests nothing. Every recorded string reaches the page through autoescaping.
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recovery-ledger incident report</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 2rem 3rem; color: #1b1f24; }
h1 { font-size: 1.5rem; margin: 1.2rem 0 .3rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1rem; margin: 1.5rem 0 .4rem; }
code, .mono { font-family: ui-monospace, monospace; font-size: 12.5px; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
.meta td:first-child { font-weight: 600; background: #f6f8fa; }
.ok { color: #1a7f37; font-weight: 600; }
.bad { color: #cf222e; font-weight: 600; }
.finding { background: #ffebe9; border-left: 4px solid #cf222e; }
.whatif { background: #fff8c5; }
.rule { color: #57606a; font-style: italic; }
.lane text { font: 11px ui-monospace, monospace; fill: #57606a; }
.m-registered { fill: #8c959f; } .m-reattached { fill: #1a7f37; } .m-finalized { fill: #cf222e; }
.m-heartbeat { fill: #0969da; } .m-token { fill: #8250df; } .m-observed { fill: #bf8700; }
.m-finding { fill: none; stroke: #cf222e; stroke-width: 2; }
.bootline { stroke: #afb8c1; stroke-dasharray: 3 3; }
.legend span { margin-right: 1rem; }
</style>
</head>
<body>
<h1>Incident report</h1>
<table class="meta">
<tr><td>ledger</td><td class="mono">{{ ledger }}</td></tr>
<tr><td>range</td><td>{{ range_from or "no events" }} — {{ range_to or "" }} ({{ event_count }} events)</td></tr>
<tr><td>hosts</td><td>{% for host in hosts %}<span class="host">{{ host.name }}</span> <code>{{ host.id }}</code>{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}</td></tr>
<tr><td>filters</td><td>{{ filters or "none" }}</td></tr>
<tr><td>verify</td><td id="verify">{% if verify.ok %}<span class="ok">verified</span>: {{ verify.events }} events, hash chain intact, {{ verify.checkpoints }} signed checkpoints match{% else %}<span class="bad">FAILS verification</span> ({{ verify.problems | length }} problems){% endif %}
{% if verify.problems %}<ul>{% for problem in verify.problems %}<li>{{ problem }}</li>{% endfor %}</ul>{% endif %}</td></tr>
<tr><td>generated</td><td>{{ generated_at }} by recovery-ledger {{ version }}</td></tr>
</table>

<h2 id="findings">Findings ({{ findings | length }})</h2>
{% if findings %}
<table>
<tr><th>kind</th><th>loop</th><th>boot</th><th>at</th><th>detail</th></tr>
{% for f in findings %}
<tr class="finding"><td><strong>{{ f.kind }}</strong></td><td><a href="#loop-{{ f.anchor }}">{{ f.loop_id }}</a></td><td><code>{{ f.boot }}</code></td><td>{{ f.at }}</td><td>{{ f.detail }}</td></tr>
{% endfor %}
</table>
{% else %}<p>No findings.</p>{% endif %}

<h2 id="boots">Boots ({{ boots | length }})</h2>
<table>
<tr><th>boot</th><th>started</th><th>policy</th><th>host</th><th>state</th><th>examined</th><th>reattached</th><th>revived</th><th>finalized</th><th>heartbeats</th></tr>
{% for b in boots %}
<tr{% if b.state != "completed" %} class="finding"{% endif %}><td><code>{{ b.short_id }}</code></td><td>{{ b.started_at }}</td><td>{{ b.policy }}</td><td>{{ b.host_name }}</td><td>{{ b.state }}</td><td>{{ b.examined }}</td><td>{{ b.reattached }}</td><td>{{ b.revived }}</td><td>{{ b.finalized }}</td><td>{{ b.heartbeats_posted }}</td></tr>
{% endfor %}
</table>

<h2 id="loops">Loops ({{ loops | length }})</h2>
<p class="legend">{% for kind, label in legend %}<span><svg width="12" height="12" aria-hidden="true"><circle class="m-{{ kind }}" cx="6" cy="6" r="5"/></svg> {{ label }}</span>{% endfor %}<span><svg width="14" height="14" aria-hidden="true"><circle class="m-finding" cx="7" cy="7" r="6"/></svg> finding</span> (hover a mark for what it records)</p>
{% for l in loops %}
<section class="loop" id="loop-{{ l.anchor }}" data-loop-id="{{ l.loop_id }}">
<h3>Loop <code class="loop-id">{{ l.loop_id }}</code> — {{ l.provenance }}, {{ l.state }}{% if l.finalize_reason %} ({{ l.finalize_reason }}){% endif %}, host {{ l.host_name }}{% if l.findings %} <span class="bad">{{ l.findings | length }} finding(s)</span>{% endif %}</h3>
<svg class="lane" width="{{ svg.width }}" height="{{ svg.height }}" viewBox="0 0 {{ svg.width }} {{ svg.height }}" role="img" aria-label="timeline of {{ l.loop_id }}">
{% for b in svg.boots %}<line class="bootline" x1="{{ b.x }}" y1="4" x2="{{ b.x }}" y2="{{ svg.height - 16 }}"/><text x="{{ b.x + 3 }}" y="{{ svg.height - 4 }}">boot {{ b.label }}</text>
{% endfor %}<line x1="{{ svg.left }}" y1="{{ svg.mid }}" x2="{{ svg.right }}" y2="{{ svg.mid }}" stroke="#d0d7de"/>
{% for m in l.marks %}<circle class="m-{{ m.kind }}" cx="{{ m.x }}" cy="{{ m.y }}" r="5"><title>{{ m.at }} {{ m.summary }}</title></circle>{% if m.finding %}<circle class="m-finding" cx="{{ m.x }}" cy="{{ m.y }}" r="9"/>{% endif %}
{% endfor %}</svg>
<table>
<tr><th>boot</th><th>runner</th><th>cloud said</th><th>classified</th><th>heartbeat</th><th>outcome</th><th>because</th><th>what the other policies would have done</th></tr>
{% for d in l.decisions %}
<tr{% if d.findings %} class="finding"{% endif %}><td><code>{{ d.boot }}</code><br>{{ d.policy }}</td><td>{{ d.runner }}</td><td>{{ d.cloud }}</td><td>{{ d.classification }}</td><td>{{ d.heartbeat }}</td><td><strong>{{ d.outcome }}</strong></td><td class="rule">{{ d.rule }}</td>
<td>{% for w in d.what_ifs %}<div class="whatif"><strong>{{ w.policy }}</strong>: {{ w.summary }} <span class="rule">because {{ w.rule }}</span></div>{% else %}all policies agree{% endfor %}
{% for f in d.findings %}<div class="finding"><strong>{{ f.kind }}</strong>: {{ f.detail }}</div>{% endfor %}</td></tr>
{% else %}<tr><td colspan="8">no boot has examined this loop</td></tr>{% endfor %}
</table>
<details><summary>the whole story ({{ l.story | length }} events)</summary><ol>
{% for e in l.story %}<li><span class="mono">{{ e.at }}</span> {{ e.summary }}</li>{% endfor %}
</ol></details>
</section>
{% else %}<p>No loop matches.</p>{% endfor %}
</body>
</html>
"""
