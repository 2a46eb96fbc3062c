package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/config"
)

func newServeCmd() *cobra.Command {
	var cfgPath, listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the cameras of config.json and serve the viewer, API, WebSocket and WHEP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return usageError{err}
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			log := newLogger(cfg.LogLevel, cfg.LogFormat)
			a, err := app.New(cfg, log, app.WithVersion(version))
			if errors.Is(err, app.ErrConfig) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "config.json", "configuration file")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP listen address (overrides server.listen)")
	return cmd
}
