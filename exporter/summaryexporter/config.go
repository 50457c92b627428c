// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Output is where the lines go.
type Output string

// The output choices.
const (
	OutputStdout Output = "stdout"
	OutputStderr Output = "stderr"
)

// Config is the exporter's configuration.
type Config struct {
	// Interval is how often a line is printed; set it to the receiver's
	// collection_interval so each line covers one batch of each signal.
	Interval time.Duration `mapstructure:"interval"`
	// Top is how many functions and syscalls a line names.
	Top int `mapstructure:"top"`
	// Files are the file exporters' output paths; a line reports how many
	// bytes they (and their rotated backups) grew by in the interval.
	Files []string `mapstructure:"files"`
	// Output is stdout or stderr.
	Output Output `mapstructure:"output"`
	// Telemetry is the Collector's own metrics endpoint in the Prometheus
	// text format (service::telemetry::metrics with a pull reader), where
	// the receiver reports what it lost; empty leaves losses to what the
	// pipelines carry.
	Telemetry string `mapstructure:"telemetry"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{Interval: 10 * time.Second, Top: 3, Output: OutputStdout}
}

// Validate checks the configuration; each message names the YAML key and
// the fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval must be at least 1s, got %s; use the receiver's collection_interval", c.Interval))
	}
	if c.Top < 1 || c.Top > 20 {
		errs = append(errs, fmt.Errorf("top must be between 1 and 20, got %d; 3 fits a terminal line", c.Top))
	}
	if c.Output != OutputStdout && c.Output != OutputStderr {
		errs = append(errs, fmt.Errorf("output must be stdout or stderr, got %q", c.Output))
	}
	if c.Telemetry != "" {
		if u, err := url.Parse(c.Telemetry); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("telemetry must be an http URL such as http://127.0.0.1:8888/metrics, got %q", c.Telemetry))
		}
	}
	for i, f := range c.Files {
		if f == "" {
			errs = append(errs, fmt.Errorf("files[%d] is empty; give the file exporter's path", i))
		}
	}
	return errors.Join(errs...)
}
