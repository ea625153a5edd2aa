#include "collector/http_api.h"

namespace meshtrace::collector {

// One page, no external resources: the list comes from /api/v1/traces, search resolves a
// trace id or an envelope id and opens its report. Filters live in the URL so a view can be
// shared and reloaded.
const char* UiPage() {
  return R"html(<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1"><title>meshtrace</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328}
header{padding:12px 24px;border-bottom:1px solid #d0d7de;background:#f6f8fa;display:flex;gap:24px;align-items:center}
header h1{font-size:18px;margin:0}main{padding:12px 24px}
form{display:flex;gap:10px;flex-wrap:wrap;align-items:center;margin-bottom:12px}
input,select,button{font-size:13px;padding:3px 6px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td{white-space:nowrap}td.error{white-space:normal}
th{font-weight:600;color:#57606a}code{font:12px ui-monospace,Menlo,monospace}
.badge{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:12px}.badge.tap{background:#0969da}
.complete,.succeeded{background:#1a7f37}.failed{background:#cf222e}.stalled,.partial,.mixed{background:#9a6700}.open,.unknown{background:#57606a}
#status{color:#57606a;margin:8px 0}.err{color:#cf222e}.anomaly{color:#9a6700}
</style></head><body>
<header><h1>meshtrace</h1>
<form id=search><input id=search-id name=search placeholder="trace id or envelope id" size=40><button>open</button></form></header>
<main>
<form id=filters>
<label><input type=checkbox name=outcome value=failed> failed only</label>
<label>verdict <select name=verdict><option value="">any</option><option>complete</option><option>open</option><option>stalled</option><option>partial</option></select></label>
<label>actor <input name=actor size=12></label>
<label>reason <input name=reason size=12></label>
<label>since <select name=since><option value="">any time</option><option>15m</option><option>1h</option><option>24h</option><option>168h</option></select></label>
<label>error text <input name=q size=16></label>
<button>apply</button></form>
<div id=status>loading…</div>
<table><thead><tr><th>started</th><th>trace</th><th>verdict</th><th>outcome</th><th>ended at</th><th>error</th><th>hops</th><th>duration</th></tr></thead>
<tbody id=traces></tbody></table>
<p><button id=more hidden>more</button></p>
</main>
<script>
(function(){
var params=new URLSearchParams(location.search);
var filters=document.getElementById('filters');
['verdict','actor','reason','since','q'].forEach(function(k){if(params.get(k))filters.elements[k].value=params.get(k);});
if(params.get('outcome')==='failed')filters.elements.outcome.checked=true;
function esc(s){return String(s==null?'':s).replace(/[&<>"']/g,function(c){return{'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function report(id){return '/api/v1/traces/'+encodeURIComponent(id)+'/report.html';}
function query(){var q=new URLSearchParams();new FormData(filters).forEach(function(v,k){if(v)q.set(k,v);});return q;}
var cursor='';
function load(append){
var q=query();q.set('limit','100');if(append&&cursor)q.set('cursor',cursor);
fetch('/api/v1/traces?'+q.toString()).then(function(r){return r.json().then(function(b){return{ok:r.ok,body:b};});}).then(function(r){
var st=document.getElementById('status');
if(!r.ok){st.innerHTML='<span class=err>'+esc(r.body.error)+'</span>';return;}
var rows=r.body.traces.map(function(t){return '<tr class=trace-row><td>'+esc(t.started_at)+'</td><td><a href="'+report(t.trace_id)+'"><code>'+esc(t.trace_id)+'</code></a></td><td><span class="badge '+esc(t.verdict)+'">'+esc(t.verdict)+'</span></td><td><span class="badge '+esc(t.outcome)+'">'+esc(t.outcome)+'</span></td><td>'+esc(t.ended_at_actor)+'</td><td class=error title="'+esc(t.headline)+'">'+(t.error_type?esc(t.error_type)+(t.error_message?': '+esc(t.error_message.slice(0,80)):''):(t.verdict=='stalled'||t.verdict=='partial'?'<span class=anomaly>'+esc(t.headline)+'</span>':''))+'</td><td>'+t.hops+(t.tapped_hops?' <span class="badge tap" title="'+t.tapped_hops+' hop(s) seen by meshtrace-tap: the /invoke exchange only">tap</span>':'')+'</td><td>'+t.duration_ms+' ms</td></tr>';}).join('');
var body=document.getElementById('traces');body.innerHTML=(append?body.innerHTML:'')+rows;
cursor=r.body.next_cursor;document.getElementById('more').hidden=!cursor;
st.textContent=body.rows.length+' trace'+(body.rows.length==1?'':'s')+(cursor?' (more available)':'');
}).catch(function(e){document.getElementById('status').innerHTML='<span class=err>cannot reach the collector: '+esc(e)+'</span>';});}
filters.addEventListener('submit',function(e){e.preventDefault();history.replaceState(null,'','?'+query().toString());load(false);});
document.getElementById('more').addEventListener('click',function(){load(true);});
// Search shows the trace of a trace id or an envelope id as the only row.
function artifactRow(a,via){return '<tr class=trace-row><td>'+esc(a.started_at)+'</td><td><a href="'+report(a.trace_id)+'"><code>'+esc(a.trace_id)+'</code></a>'+(via?' <small>(envelope '+esc(via)+')</small>':'')+'</td><td><span class="badge '+esc(a.verdict)+'">'+esc(a.verdict)+'</span></td><td><span class="badge '+esc(a.outcome)+'">'+esc(a.outcome)+'</span></td><td colspan=2 class=error>'+esc(a.headline)+'</td><td>'+a.hops.length+'</td><td>'+Math.round(a.duration_ms)+' ms</td></tr>';}
function show(a,via){document.getElementById('traces').innerHTML=artifactRow(a,via);cursor='';document.getElementById('more').hidden=true;
document.getElementById('status').textContent='search result';}
function search(id){id=id.trim();if(!id)return;var st=document.getElementById('status');
fetch('/api/v1/traces/'+encodeURIComponent(id)).then(function(r){
if(r.ok){return r.json().then(function(a){show(a,'');});}
return fetch('/api/v1/envelopes/'+encodeURIComponent(id)).then(function(r2){return r2.json().then(function(b){
if(!r2.ok){st.innerHTML='<span class=err>no trace or envelope '+esc(id)+'</span>';document.getElementById('traces').innerHTML='';return;}
return fetch('/api/v1/traces/'+encodeURIComponent(b.trace_id)).then(function(r3){return r3.json();}).then(function(a){show(a,id);});});});});}
document.getElementById('search').addEventListener('submit',function(e){e.preventDefault();var id=document.getElementById('search-id').value;history.replaceState(null,'','?search='+encodeURIComponent(id));search(id);});
if(params.get('search')){document.getElementById('search-id').value=params.get('search');search(params.get('search'));}
else load(false);
})();
</script></body></html>
)html";
}

}  // namespace meshtrace::collector
