package simulate

// runningFeeders is the number of client pipelines being fed now.
func (s *Server) runningFeeders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.feeders {
		if !f.exited {
			n++
		}
	}
	return n
}
