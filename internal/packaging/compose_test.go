package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gstvision/gstvision/internal/config"
)

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build       composeBuild  `yaml:"build"`
	Image       string        `yaml:"image"`
	Restart     string        `yaml:"restart"`
	Ports       []yaml.Node   `yaml:"ports"`
	Volumes     []yaml.Node   `yaml:"volumes"`
	Environment yaml.Node     `yaml:"environment"`
	Deploy      composeDeploy `yaml:"deploy"`
	Healthcheck struct {
		Test yaml.Node `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeDeploy struct {
	Resources struct {
		Reservations struct {
			Devices []struct {
				Driver       string    `yaml:"driver"`
				Count        yaml.Node `yaml:"count"`
				DeviceIDs    []string  `yaml:"device_ids"`
				Capabilities []string  `yaml:"capabilities"`
			} `yaml:"devices"`
		} `yaml:"reservations"`
	} `yaml:"resources"`
}

// port is one published port: host (published) and container (target) port numbers.
type port struct{ published, target string }

func parsePort(n yaml.Node) (port, error) {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Target    int    `yaml:"target"`
			Published string `yaml:"published"`
		}
		if err := n.Decode(&long); err != nil {
			return port{}, fmt.Errorf("ports: %w", err)
		}
		return port{published: long.Published, target: strconv.Itoa(long.Target)}, nil
	}
	s := strings.TrimSuffix(strings.TrimSuffix(n.Value, "/tcp"), "/udp")
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		return port{target: parts[0]}, nil
	case 2:
		return port{published: parts[0], target: parts[1]}, nil
	case 3:
		return port{published: parts[1], target: parts[2]}, nil
	}
	return port{}, fmt.Errorf("ports: cannot read %q", n.Value)
}

// mount is one volume: source, target and whether it is read-only.
type mount struct {
	source, target string
	readOnly       bool
}

func parseMount(n yaml.Node) (mount, error) {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Source   string `yaml:"source"`
			Target   string `yaml:"target"`
			ReadOnly bool   `yaml:"read_only"`
		}
		if err := n.Decode(&long); err != nil {
			return mount{}, fmt.Errorf("volumes: %w", err)
		}
		return mount{long.Source, long.Target, long.ReadOnly}, nil
	}
	// SOURCE:TARGET[:MODE]; SOURCE may hold ${VAR:-default} with a colon inside.
	s := n.Value
	var src string
	if strings.HasPrefix(s, "${") {
		end := strings.Index(s, "}")
		if end < 0 {
			return mount{}, fmt.Errorf("volumes: unclosed ${ in %q", s)
		}
		src, s = s[:end+1], strings.TrimPrefix(s[end+1:], ":")
	} else {
		src, s, _ = strings.Cut(s, ":")
	}
	target, mode, _ := strings.Cut(s, ":")
	return mount{src, target, slices.Contains(strings.Split(mode, ","), "ro")}, nil
}

func TestCompose(t *testing.T) {
	var cf composeFile
	dec := yaml.NewDecoder(strings.NewReader(readRepoFile(t, composeName)))
	dec.KnownFields(false)
	if err := dec.Decode(&cf); err != nil {
		t.Fatalf("%s: %v", composeName, err)
	}
	svc, ok := cf.Services["gstvision"]
	if !ok {
		t.Fatalf("%s: no service gstvision", composeName)
	}
	if svc.Build.Dockerfile != dockerfileName || path.Clean(svc.Build.Context) != "." {
		t.Errorf("build = %+v, want context . and dockerfile %s", svc.Build, dockerfileName)
	}
	if !slices.Contains([]string{"always", "unless-stopped", "on-failure"}, strings.SplitN(svc.Restart, ":", 2)[0]) {
		t.Errorf("restart = %q, want a restart policy", svc.Restart)
	}

	devs := svc.Deploy.Resources.Reservations.Devices
	gpu := false
	for _, dv := range devs {
		if dv.Driver == "nvidia" && slices.Contains(dv.Capabilities, "gpu") {
			gpu = true
			for _, c := range []string{"video", "compute", "utility"} {
				if !slices.Contains(dv.Capabilities, c) {
					t.Errorf("GPU reservation capabilities %q lack %s (NVDEC needs video)", dv.Capabilities, c)
				}
			}
		}
	}
	if !gpu {
		t.Error("no deploy.resources.reservations.devices entry with driver nvidia and capability gpu")
	}

	ic := loadImageConfig(t)
	listenPort := portOf(t, ic.Listen)
	published := false
	for _, n := range svc.Ports {
		p, err := parsePort(n)
		if err != nil {
			t.Fatal(err)
		}
		if p.target == listenPort && p.published != "" {
			published = true
		}
	}
	if !published {
		t.Errorf("the container port %s is not published", listenPort)
	}

	cfgMounted := false
	for _, n := range svc.Volumes {
		m, err := parseMount(n)
		if err != nil {
			t.Fatal(err)
		}
		if m.target != ic.Path {
			continue
		}
		cfgMounted = true
		if !m.readOnly {
			t.Errorf("the config mount %s is not read-only", m.target)
		}
		// The default source (${VAR:-default}) is a config that loads in cuda mode.
		src, err := Expand(m.source, nil)
		if err != nil {
			t.Fatal(err)
		}
		if src == "" {
			t.Errorf("config mount source %q has no default", m.source)
			continue
		}
		c, err := config.LoadWithEnv(filepath.Join(root(t), filepath.FromSlash(src)), nil)
		if err != nil {
			t.Errorf("config mount source %s: %v", src, err)
		} else if c.Device != config.DeviceCUDA {
			t.Errorf("config mount source %s: device %q, want cuda", src, c.Device)
		}
	}
	if !cfgMounted {
		t.Errorf("no volume mounts the config at %s (the path the image's command reads)", ic.Path)
	}

	var test []string
	if err := svc.Healthcheck.Test.Decode(&test); err != nil {
		var s string
		if err2 := svc.Healthcheck.Test.Decode(&s); err2 != nil {
			t.Fatalf("healthcheck.test: %v", err)
		}
		test = []string{"CMD-SHELL", s}
	}
	joined := strings.Join(test, " ")
	if u := urlRE.FindString(joined); !strings.HasSuffix(u, ":"+listenPort+"/healthz") {
		t.Errorf("healthcheck %q does not probe /healthz on port %s", joined, listenPort)
	}
}

var fenceRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// docs/deploy.md: the docker run command, compose, and a Kubernetes example whose manifests
// parse and agree with the image.
func TestDeployDoc(t *testing.T) {
	doc := readRepoFile(t, "docs/deploy.md")
	for _, want := range []string{
		"docker run --gpus all -p 8080:8080 -v $PWD/config.json:/etc/gstvision/config.json:ro gstvision",
		"docker compose up",
		"gstvision doctor",
		"NVIDIA_DRIVER_CAPABILITIES",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deploy.md lacks %q", want)
		}
	}
	ic := loadImageConfig(t)
	listenPort := portOf(t, ic.Listen)

	kinds := map[string]int{}
	for _, m := range fenceRE.FindAllStringSubmatch(doc, -1) {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(m[1])))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("docs/deploy.md yaml block: %v", err)
			}
			kind, _ := obj["kind"].(string)
			kinds[kind]++
			switch kind {
			case "ConfigMap":
				checkConfigMap(t, obj)
			case "Deployment":
				checkDeployment(t, obj, ic, listenPort)
			case "Service":
				spec := obj["spec"].(map[string]any)
				if len(spec["ports"].([]any)) == 0 {
					t.Error("Service has no ports")
				}
			}
		}
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("docs/deploy.md has no Kubernetes %s", k)
		}
	}
}

func checkConfigMap(t *testing.T, obj map[string]any) {
	t.Helper()
	data, _ := obj["data"].(map[string]any)
	js, _ := data["config.json"].(string)
	if js == "" {
		t.Error("ConfigMap has no config.json")
		return
	}
	c, err := config.Parse([]byte(js), "/etc/gstvision")
	if err != nil {
		t.Errorf("ConfigMap config.json: %v", err)
		return
	}
	if c.Device != config.DeviceCUDA {
		t.Errorf("ConfigMap config.json: device %q, want cuda", c.Device)
	}
}

// get walks obj along keys (string for maps, int for lists).
func get(obj any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := obj.(map[string]any)
			if !ok {
				return nil
			}
			obj = m[k]
		case int:
			l, ok := obj.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			obj = l[k]
		}
	}
	return obj
}

func checkDeployment(t *testing.T, obj map[string]any, ic imageConfig, listenPort string) {
	t.Helper()
	c := get(obj, "spec", "template", "spec", "containers", 0)
	if c == nil {
		t.Fatal("Deployment has no container")
	}
	if gpus := fmt.Sprint(get(c, "resources", "limits", "nvidia.com/gpu")); gpus != "1" {
		t.Errorf("Deployment: resources.limits nvidia.com/gpu = %s, want 1", gpus)
	}
	capsOK := false
	env, _ := get(c, "env").([]any)
	for _, e := range env {
		if get(e, "name") == "NVIDIA_DRIVER_CAPABILITIES" && strings.Contains(fmt.Sprint(get(e, "value")), "video") {
			capsOK = true
		}
	}
	if !capsOK {
		t.Error("Deployment: env NVIDIA_DRIVER_CAPABILITIES with video is missing")
	}
	for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if p := get(c, probe, "httpGet", "path"); p != want {
			t.Errorf("Deployment: %s path = %v, want %s", probe, p, want)
		}
	}
	portOK := false
	ports, _ := get(c, "ports").([]any)
	for _, p := range ports {
		if fmt.Sprint(get(p, "containerPort")) == listenPort {
			portOK = true
		}
	}
	if !portOK {
		t.Errorf("Deployment: no containerPort %s", listenPort)
	}
	mountOK := false
	mounts, _ := get(c, "volumeMounts").([]any)
	for _, m := range mounts {
		if get(m, "mountPath") == ic.Path {
			mountOK = true
		}
	}
	if !mountOK {
		t.Errorf("Deployment: the config is not mounted at %s", ic.Path)
	}
}
