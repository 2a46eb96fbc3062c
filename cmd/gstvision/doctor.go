package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/doctor"
)

func newDoctorCmd() *cobra.Command {
	var cfgPath, device string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run the configuration, with a fix for each failure",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return usageError{err}
			}
			if device != "" {
				cfg.Device = device
			}
			r := doctor.Run(cfg)
			r.Write(cmd.OutOrStdout(), cfg.Device)
			if !r.OK {
				return errors.New("doctor: the configured mode cannot run here")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "config.json", "configuration file")
	cmd.Flags().StringVar(&device, "device", "", "check this device instead of the config's (cpu or cuda)")
	return cmd
}
