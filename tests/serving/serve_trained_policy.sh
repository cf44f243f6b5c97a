#!/bin/sh
# kiln-train writes a servable output directory; kiln-serve serves it and curl
# talks to it on 127.0.0.1: the chat answer is the completion of the same
# prompt split at </think>, and the stream concatenates to the whole answer.
# Then kiln-serve --export-bundle and the runtime-only kiln-serve-rt give the
# same answer from the bundle.
# usage: serve_trained_policy.sh BIN_DIR WORK_DIR
set -eu
BIN=$1
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/kiln-train" --mode=sft --set='sft { steps: 200 } eval { problems: 4 }' \
  --output-dir="$WORK/policy" > "$WORK/train.log" 2>&1 || { cat "$WORK/train.log"; exit 1; }
for f in config.json model.safetensors tokenizer_config.json; do
  [ -f "$WORK/policy/$f" ] || { echo "kiln-train wrote no $f"; exit 1; }
done

# start LOG SERVER-COMMAND...: runs a server on a free port, sets PID and URL.
start() {
  log=$1
  shift
  "$@" --port=0 > "$log" 2>&1 &
  PID=$!
  i=0
  until grep -q "on http://" "$log"; do
    i=$((i + 1))
    if [ $i -gt 900 ] || ! kill -0 "$PID" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.1
  done
  PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log")
  URL="http://127.0.0.1:$PORT"
}
start "$WORK/serve.log" "$BIN/kiln-serve" --model="$WORK/policy" --slots=4

post() { curl -sS --max-time 60 -H 'Content-Type: application/json' "$URL$1" -d "$2"; }
post /v1/chat/completions \
  '{"model":"policy","messages":[{"role":"user","content":"12+34=?"}],"temperature":0,"max_tokens":40}' \
  > "$WORK/chat.json"
post /v1/completions \
  '{"model":"policy","prompt":"<bos>Q: 12+34=?\nA: ","temperature":0,"max_tokens":40}' \
  > "$WORK/completion.json"
post /v1/chat/completions \
  '{"model":"policy","messages":[{"role":"user","content":"12+34=?"}],"temperature":0,"max_tokens":40,"stream":true,"stream_options":{"include_usage":true}}' \
  > "$WORK/stream.txt"
curl -sS --max-time 10 "$URL/metrics" > "$WORK/metrics.txt"
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
  "$URL/v1/chat/completions" -d '{"model":"policy","messages":"nope"}')
[ "$STATUS" = 400 ] || { echo "malformed request got $STATUS"; exit 1; }

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
chat = json.load(open(work + "/chat.json"))
text = json.load(open(work + "/completion.json"))["choices"][0]["text"]
end = text.find("</think>")
reasoning = text if end < 0 else text[:end]
if reasoning.startswith("<think>"):
    reasoning = reasoning[len("<think>"):]
content = "" if end < 0 else text[end + len("</think>"):]
# 200 SFT steps learn the format: the split has both sides.
assert "</think>" in text, text
message = chat["choices"][0]["message"]
assert message["reasoning_content"] == reasoning, (message, text)
assert message["content"] == content, (message, text)
events = open(work + "/stream.txt").read().split("\n\n")
assert events[-1] == "" and events[-2] == "data: [DONE]", events[-3:]
r = c = ""
usage = None
for e in events[:-2]:
    if e.startswith(":"):  # an SSE comment (keep-alive)
        continue
    assert e.startswith("data: "), e
    chunk = json.loads(e[6:])
    if not chunk["choices"]:
        usage = chunk["usage"]
        continue
    delta = chunk["choices"][0]["delta"]
    assert not (c and delta.get("reasoning_content")), "reasoning after content"
    r += delta.get("reasoning_content", "")
    c += delta.get("content") or ""
assert (r, c) == (reasoning, content), (r, c, text)
assert usage == chat["usage"], (usage, chat["usage"])
metrics = open(work + "/metrics.txt").read()
assert 'kiln_requests_total{endpoint="/v1/chat/completions",status="200"} 2' in metrics
print("chat:", json.dumps(message))
PY

# Constrained decoding on the trained policy: the reasoning format forced by
# the kiln_regex extension, and a JSON schema after the reasoning of a chat.
post /v1/completions \
  '{"model":"policy","prompt":"<bos>Q: 12+34=?\nA: ","temperature":0,"max_tokens":80,"kiln_regex":"<think>[^<]*</think><answer>-?[0-9]+</answer>"}' \
  > "$WORK/regex.json"
post /v1/chat/completions \
  '{"model":"policy","messages":[{"role":"user","content":"12+34=?"}],"temperature":0,"max_tokens":100,"response_format":{"type":"json_schema","json_schema":{"name":"sum","strict":true,"schema":{"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"],"additionalProperties":false}}}}' \
  > "$WORK/schema.json"
BAD=$(curl -sS --max-time 10 -H 'Content-Type: application/json' "$URL/v1/completions" \
  -d '{"model":"policy","prompt":"x","kiln_regex":"(?=a)"}')
python3 - "$WORK" "$BAD" <<'PY'
import json, re, sys
work, bad = sys.argv[1], json.loads(sys.argv[2])
choice = json.load(open(work + "/regex.json"))["choices"][0]
text = choice["text"]
assert choice["finish_reason"] == "stop", choice
assert re.fullmatch(r"<think>[^<]*</think><answer>-?[0-9]+</answer>", text), text
print("kiln_regex:", json.dumps(text))
choice = json.load(open(work + "/schema.json"))["choices"][0]
assert choice["finish_reason"] == "stop", choice
value = json.loads(choice["message"]["content"])
assert isinstance(value, dict) and set(value) == {"answer"}, value
assert isinstance(value["answer"], int), value
print("json_schema:", json.dumps(choice["message"]))
assert bad["error"]["param"] == "kiln_regex" and "(?" in bad["error"]["message"], bad
PY

kill "$PID"
wait "$PID" 2>/dev/null || true
PID=
"$BIN/kiln-serve-rt" --model="$WORK/policy" --slots=4 2> "$WORK/rt-nobundle.txt" \
  && { echo "kiln-serve-rt ran without a bundle"; exit 1; }
grep -q "pass --bundle=DIR" "$WORK/rt-nobundle.txt"
"$BIN/kiln-serve" --model="$WORK/policy" --slots=4 --export-bundle="$WORK/bundle" > /dev/null
start "$WORK/serve-rt.log" "$BIN/kiln-serve-rt" --model="$WORK/policy" --slots=4 \
  --bundle="$WORK/bundle"
post /v1/chat/completions \
  '{"model":"policy","messages":[{"role":"user","content":"12+34=?"}],"temperature":0,"max_tokens":40}' \
  > "$WORK/chat-rt.json"
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
a = json.load(open(work + "/chat.json"))["choices"][0]["message"]
b = json.load(open(work + "/chat-rt.json"))["choices"][0]["message"]
assert a == b, (a, b)
print("kiln-serve-rt from the bundle: same answer")
PY
