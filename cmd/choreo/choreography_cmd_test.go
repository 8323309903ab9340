package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/choreohq/choreo/client"
)

func TestChoreographyCommands(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	dir := t.TempDir()
	yaml := writeFile(t, dir, "returns.yaml", "name: returns\npatterns:\n  - id: r\n    event_type: return_requested\n    action: accept_return\n    target_capability: returns\n")

	code, out, stderr := e.run(t, "", runChoreography, "deploy", yaml)
	wantExit(t, code, stderr, exitOK)
	if !strings.HasPrefix(out, "deployed returns version 1: 1 rule, sha256 ") {
		t.Errorf("deploy output %q", out)
	}
	code, out, stderr = e.run(t, "", runChoreography, "deploy", yaml)
	wantExit(t, code, stderr, exitOK)
	if out != "returns version 1 is already deployed with this source: nothing changed\n" {
		t.Errorf("redeploy output %q", out)
	}
	// A JSON file without a name, deployed under --name.
	js := writeFile(t, dir, "v2.json", `{"patterns":[{"id":"r","event_type":"return_requested","action":"accept_return","target_capability":"returns","priority":5}]}`)
	code, out, stderr = e.run(t, "", runChoreography, "deploy", js, "--name", "returns", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var dep struct {
		client.Deployment
		Changed bool `json:"changed"`
	}
	if err := json.Unmarshal([]byte(out), &dep); err != nil || !dep.Changed || dep.Name != "returns" || dep.Version != 2 {
		t.Fatalf("deploy JSON %s: %v", out, err)
	}
	// --output json prints what the API answers, member for member.
	code, out, stderr = e.run(t, "", runChoreography, "deploy", js, "--name", "returns", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	api := e.apiJSON(t, "PUT", "/v1/choreographies/returns", "application/json", readFile(t, js))
	if got := jsonObject(t, out); !reflect.DeepEqual(got, api) || got["changed"] != false {
		t.Errorf("deploy --output json printed\n%v\nthe API answers\n%v", got, api)
	}
	// A file without a name deploys under its own.
	noName := writeFile(t, dir, "gifts.yml", "patterns:\n  - id: g\n    event_type: gift\n    action: wrap\n    target_capability: wrapping\n")
	code, out, stderr = e.run(t, "", runChoreography, "deploy", noName)
	wantExit(t, code, stderr, exitOK)
	if !strings.HasPrefix(out, "deployed gifts version 1") {
		t.Errorf("deploy output %q", out)
	}

	code, out, stderr = e.run(t, "", runChoreography, "list")
	wantExit(t, code, stderr, exitOK)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME ") || !strings.HasPrefix(lines[1], "gifts ") ||
		!strings.HasPrefix(lines[2], "returns  2 ") || !strings.HasPrefix(lines[3], "shop ") {
		t.Fatalf("list:\n%s", out)
	}
	code, out, stderr = e.run(t, "", runChoreography, "get", "returns")
	wantExit(t, code, stderr, exitOK)
	if !strings.HasPrefix(out, "choreography returns\n  version   2\n") || !strings.HasSuffix(out, `"priority":5}]}`+"\n") {
		t.Errorf("get:\n%s", out)
	}

	// Problems: found here, with the file's positions, when the name comes
	// from the document; found by the server otherwise, named the same.
	bad := writeFile(t, dir, "bad.yaml", "name: returns\npatterns:\n  - id: r\n    event_type: x\n    priority: high\n")
	code, _, stderr = e.run(t, "", runChoreography, "deploy", bad)
	wantExit(t, code, stderr, exitFailure, "invalid_choreography\n", bad+":5:15: r: priority must be an integer")
	code, _, stderr = e.run(t, "", runChoreography, "deploy", bad, "--name", "returns")
	wantExit(t, code, stderr, exitFailure, "invalid_choreography (HTTP 422)\n", bad+":5:15: r: priority must be an integer")
	// An empty document is refused by the server too: it would replace
	// the running rules with none.
	empty := writeFile(t, dir, "empty.yaml", "")
	code, _, stderr = e.run(t, "", runChoreography, "deploy", empty, "--name", "returns")
	wantExit(t, code, stderr, exitFailure, "invalid_choreography: the choreography has no rules", "(HTTP 422)")
	code, _, stderr = e.run(t, "", runChoreography, "deploy", yaml, "--name", "other")
	wantExit(t, code, stderr, exitFailure, "name_mismatch: name:")

	code, out, stderr = e.run(t, "", runChoreography, "rm", "returns")
	wantExit(t, code, stderr, exitOK)
	if out != "removed choreography returns\n" {
		t.Errorf("rm output %q", out)
	}
	// The API answers 204 with no body: --output json prints nothing.
	code, out, stderr = e.run(t, "", runChoreography, "rm", "gifts", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	if out != "" {
		t.Errorf("rm --output json printed %q, want nothing", out)
	}
	code, out, stderr = e.run(t, "", runChoreography, "versions", "returns")
	wantExit(t, code, stderr, exitOK)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "#") || !strings.Contains(lines[2], "(removed)") {
		t.Errorf("versions:\n%s", out)
	}
	code, _, stderr = e.run(t, "", runChoreography, "rm", "returns")
	wantExit(t, code, stderr, exitFailure, "not_found: name:", "(HTTP 404)")
	code, _, stderr = e.run(t, "", runChoreography, "get", "returns", "--output", "json")
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != "not_found" || r.Status != 404 {
		t.Errorf("JSON error %+v", r)
	}
	code, _, stderr = e.run(t, "", runChoreography, "deploy", dir+"/missing.yaml")
	wantExit(t, code, stderr, exitFailure, "invalid_input")
	for _, args := range [][]string{{"deploy"}, {"deploy", "a", "b"}, {"rm"}, {"list", "x"}, {"versions"}, {"apply"}} {
		if code, _, stderr := e.run(t, "", runChoreography, args...); code != exitUsage {
			t.Errorf("choreography %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}
