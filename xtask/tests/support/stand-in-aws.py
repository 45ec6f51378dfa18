"""A scripted `aws` for the parts moto does not emulate (log downloads
answer HTTP 500; statuses other than available/stopped; pending-reboot;
events other than creation and backup). Put first on PATH by a test.

plan.json beside this script's caller (the stand-in dir) maps
"service operation" to one of:
  {"answer": {...}}           print this JSON (a shape from the AWS docs)
  {"text": "..."}             print this text (generate-db-auth-token's answer)
  {"error": "An error ..."}   print it to stderr, exit 255 (as CLI v1 does)
  {"set": {"A.0.B": value}}   run the real CLI (against moto), then set
                              these dotted paths in its answer
Any other call runs the real CLI unchanged. Every call is appended to
calls.log as "service operation", and its argv as JSON to argv.log.
"""

import contextlib
import io
import json
import os
import sys

def real_cli(args):
    from awscli.clidriver import create_clidriver

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = create_clidriver().main(args)
    return code, out.getvalue()


def set_path(doc, dotted, value):
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def main():
    args = sys.argv[1:]
    stand_in_dir = os.path.dirname(os.environ.get("STAND_IN_PLAN", ""))
    plan_file = os.environ.get("STAND_IN_PLAN")
    plan = json.load(open(plan_file)) if plan_file else {}
    words = [a for a in args if not a.startswith("-")]
    key = " ".join(words[:2])
    with open(os.path.join(stand_in_dir, "calls.log"), "a") as log:
        log.write(key + "\n")
    # The whole command line, for tests that check what a child's argv holds.
    with open(os.path.join(stand_in_dir, "argv.log"), "a") as log:
        log.write(json.dumps(args) + "\n")
    entry = plan.get(key)
    if entry is None:
        from awscli.clidriver import create_clidriver

        sys.exit(create_clidriver().main(args))
    if "text" in entry:
        print(entry["text"])
        return 0
    if "answer" in entry:
        print(json.dumps(entry["answer"]))
        return 0
    if "error" in entry:
        sys.stderr.write("\n" + entry["error"] + "\n")
        sys.exit(255)
    code, text = real_cli(args)
    if code != 0:
        sys.exit(code)
    doc = json.loads(text)
    for dotted, value in entry["set"].items():
        set_path(doc, dotted, value)
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
