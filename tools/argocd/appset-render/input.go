// The input files of both modes (-manifests or not): paths, "-" for standard input.
package main

import (
	"fmt"
	"io"
	"os"
)

func readInput(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}

// eachInput hands every file's bytes ("-": stdin) to use, in order; the first error, reading
// or using a file, is one line on stderr and false.
func eachInput(files []string, stdin io.Reader, stderr io.Writer, use func(file string, data []byte) error) bool {
	for _, file := range files {
		data, err := readInput(file, stdin)
		if err == nil {
			err = use(file, data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "appset-render: %v\n", err)
			return false
		}
	}
	return true
}
