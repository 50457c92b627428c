// Command dumpotlp writes the OTLP profiles schema that pdata marshals with as a
// protobuf FileDescriptorSet, taken from the Go module's registered descriptors,
// so that buf can generate TypeScript for exactly the same wire format.
//
// The "slim" Go module (go.opentelemetry.io/proto/slim/otlp, what pdata
// depends on) registers the schema under opentelemetry.proto.slim.*; the names
// are rewritten back to the canonical opentelemetry.proto.* (names never reach
// the wire, field numbers and types are untouched).
//
// Usage: go run ./proto/cmd/dumpotlp > proto/otlp.binpb
package main

import (
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	profilesv1 "go.opentelemetry.io/proto/slim/otlp/profiles/v1development"
)

func main() {
	root := profilesv1.File_opentelemetry_proto_profiles_v1development_profiles_proto
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, canonical(protodesc.ToFileDescriptorProto(fd)))
	}
	add(root)
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dumpotlp:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "dumpotlp:", err)
		os.Exit(1)
	}
}

// canonical removes the "slim" segment from the file's names and references.
func canonical(f *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	fix := func(s string) string {
		s = strings.Replace(s, "opentelemetry.proto.slim.", "opentelemetry.proto.", 1)
		return strings.Replace(s, "opentelemetry/proto/slim/", "opentelemetry/proto/", 1)
	}
	f.Name = proto.String(fix(f.GetName()))
	f.Package = proto.String(fix(f.GetPackage()))
	for i, d := range f.Dependency {
		f.Dependency[i] = fix(d)
	}
	var fixMsg func(m *descriptorpb.DescriptorProto)
	fixMsg = func(m *descriptorpb.DescriptorProto) {
		for _, fl := range m.Field {
			if fl.TypeName != nil {
				fl.TypeName = proto.String(fix(fl.GetTypeName()))
			}
		}
		for _, n := range m.NestedType {
			fixMsg(n)
		}
	}
	for _, m := range f.MessageType {
		fixMsg(m)
	}
	// Go-specific options of the slim module do not apply to other languages.
	f.Options = nil
	return f
}
