# The original demo's Lambda handler (Python; its algorithm, written again for Python 3) as a
# baseline for the benchmark's per-event section (bench/lib/perevent.ts), timed in this process.
#
# The algorithm, as the demo runs it: json.loads of the body; for initContainers then containers,
# every image through a prefix map (each matching prefix replaced, no parsing); one JSON Patch
# `replace` op per container, changed or not; the patch printed (the demo logs it with print); the
# patch base64-encoded; the reply's body json.dumps'd. Two fixes so that the answer is one the API
# server accepts (as the plain JS handler of the same section does): the AdmissionReview carries
# the request's uid, apiVersion and kind, and the base64 is of the patch's bytes.
#
#   python3 bench/demo-handler.py EVENTS_FILE ROUNDS
# EVENTS_FILE holds a JSON array of API Gateway REST events. Prints one JSON object on stdout:
# {"roundsUs": [mean µs per event of each round], "patches": [the base64 patch of each event]}.
import base64
import json
import sys
import time
from functools import reduce

# The prefix map the plain JS handler uses (bench/lib/perevent.ts DEMO_PREFIXES): filled from argv.
image_mirrors = {}


class NullWriter:
    """Where the demo's print goes: formatted, not written (as the TS handler's lines in the bench)."""

    def write(self, s):
        return len(s)

    def flush(self):
        pass


def dict_get(dictionary, keys, default=None):
    return reduce(lambda d, key: d.get(key, default) if isinstance(d, dict) else default, keys.split('.'), dictionary)


def image_patch(containers, path_prefix):
    json_patch = []
    for idx, container in enumerate(containers):
        image = container['image']
        for orig_image, mirror_image in image_mirrors.items():
            if image.startswith(orig_image):
                image = mirror_image + image[len(orig_image):]
        json_patch.append({'op': 'replace', 'path': '%s/%d/image' % (path_prefix, idx), 'value': image})
    return json_patch


def handler(event, context):
    request_body = json.loads(event['body'])
    json_patch = []
    init_containers = dict_get(request_body, 'request.object.spec.initContainers')
    if init_containers:
        json_patch += image_patch(init_containers, '/spec/initContainers')
    containers = dict_get(request_body, 'request.object.spec.containers')
    if containers:
        json_patch += image_patch(containers, '/spec/containers')
    print(json.dumps(json_patch))
    patch_b64 = base64.b64encode(json.dumps(json_patch).encode()).decode()
    response_body = {
        'apiVersion': request_body.get('apiVersion'),
        'kind': 'AdmissionReview',
        'response': {'uid': dict_get(request_body, 'request.uid'), 'allowed': True, 'patch': patch_b64, 'patchType': 'JSONPatch'},
    }
    return {'body': json.dumps(response_body), 'headers': {'Content-Type': 'application/json'}, 'statusCode': 200}


def main():
    events_file, rounds, prefixes = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    image_mirrors.update(dict(prefixes))
    with open(events_file, encoding='utf-8') as f:
        events = json.load(f)
    out, sys.stdout = sys.stdout, NullWriter()
    try:
        rounds_us = []
        answers = []
        for r in range(rounds + 1):  # round 0 warms up
            answers = []
            t0 = time.perf_counter()
            for e in events:
                answers.append(handler(e, None))
            elapsed = time.perf_counter() - t0
            if r > 0:
                rounds_us.append(elapsed * 1e6 / len(events))
    finally:
        sys.stdout = out
    patches = [json.loads(a['body'])['response']['patch'] for a in answers]
    sys.stdout.write(json.dumps({'roundsUs': rounds_us, 'patches': patches}) + '\n')


if __name__ == '__main__':
    main()
