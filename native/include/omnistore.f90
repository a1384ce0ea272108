! OmniStore's C API (omnistore.h) for Fortran, through ISO_C_BINDING. Installed compiled by the
! Fortran compiler that built the library (include/omnistore.mod, lib/libomnistore_fortran.a):
!   gfortran prog.f90 $(pkg-config --cflags --libs omnistore-fortran)
! A .mod file is read only by the compiler that wrote it, so it is installed as this source too,
! for any other compiler: compile it with your program.
!   $FC omnistore.f90 prog.f90 $(pkg-config --libs omnistore)
!
! Names are passed NUL-terminated (name // c_null_char); buffers as c_loc(array) of a `target`
! array; sizes as integer(c_size_t); omst_init takes c_null_ptr (the environment) or c_loc of a
! NUL-terminated character array. omst_strerror and omst_last_error return C strings:
! omst_string turns one into a Fortran string.
module omnistore
  use, intrinsic :: iso_c_binding
  implicit none
  integer(c_int), parameter :: OMST_OK = 0
  integer(c_int), parameter :: OMST_E_UNKNOWN = -1
  integer(c_int), parameter :: OMST_E_NOT_FOUND = -2
  integer(c_int), parameter :: OMST_E_INVALID_NAME = -3
  integer(c_int), parameter :: OMST_E_TOO_SMALL = -4
  integer(c_int), parameter :: OMST_E_STORE_FULL = -5
  integer(c_int), parameter :: OMST_E_CORRUPT = -6
  integer(c_int), parameter :: OMST_E_UNAVAILABLE = -7
  integer(c_int), parameter :: OMST_E_UNAUTHORIZED = -8
  integer(c_int), parameter :: OMST_E_PROTOCOL = -9
  integer(c_int), parameter :: OMST_E_INVALID_ARGUMENT = -10
  integer(c_int), parameter :: OMST_E_CANCELLED = -11
  integer(c_int), parameter :: OMST_E_DISPOSED = -12
  integer(c_int), parameter :: OMST_E_NOT_INITIALIZED = -101
  integer(c_int), parameter :: OMST_E_FINALIZED = -102
  integer(c_int), parameter :: OMST_E_ALREADY_INITIALIZED = -103
  integer(c_int), parameter :: OMST_E_RUNTIME = -104

  interface
    integer(c_int) function omst_init(uri) bind(c, name='omst_init')
      import :: c_int, c_ptr
      type(c_ptr), value :: uri
    end function

    integer(c_int) function omst_put_data(name, data, size) bind(c, name='omst_put_data')
      import :: c_int, c_ptr, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
    end function

    integer(c_long_long) function omst_get_data(name, buf, size) bind(c, name='omst_get_data')
      import :: c_long_long, c_ptr, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: buf
      integer(c_size_t), value :: size
    end function

    integer(c_int) function omst_put_data_omnistorage(name, data, size) bind(c, name='OmstPutData')
      import :: c_int, c_ptr, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
    end function

    integer(c_long_long) function omst_get_data_omnistorage(name, buf, size) bind(c, name='OmstGetData')
      import :: c_long_long, c_ptr, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: buf
      integer(c_size_t), value :: size
    end function

    integer(c_long_long) function omst_get_size(name) bind(c, name='omst_get_size')
      import :: c_long_long, c_char
      character(kind=c_char), dimension(*), intent(in) :: name
    end function

    integer(c_int) function omst_delete(name) bind(c, name='omst_delete')
      import :: c_int, c_char
      character(kind=c_char), dimension(*), intent(in) :: name
    end function

    ! Waits until an object is bound to name; returns its length (see omnistore.h).
    integer(c_long_long) function omst_wait(name, timeout_ms) bind(c, name='omst_wait')
      import :: c_long_long, c_char
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_long_long), value :: timeout_ms
    end function

    ! The names under prefix after after, each ended by c_null_char, in buf (see omnistore.h).
    integer(c_long_long) function omst_list(prefix, after, buf, size) bind(c, name='omst_list')
      import :: c_long_long, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: prefix, after
      character(kind=c_char), dimension(*), intent(out) :: buf
      integer(c_size_t), value :: size
    end function

    integer(c_int) function omst_finalize() bind(c, name='omst_finalize')
      import :: c_int
    end function

    type(c_ptr) function omst_strerror(code) bind(c, name='omst_strerror')
      import :: c_ptr, c_int
      integer(c_int), value :: code
    end function

    type(c_ptr) function omst_last_error() bind(c, name='omst_last_error')
      import :: c_ptr
    end function
  end interface

contains

  ! A NUL-terminated C string (omst_strerror, omst_last_error) as a Fortran string.
  function omst_string(pointer) result(text)
    type(c_ptr), intent(in) :: pointer
    character(len=:), allocatable :: text
    character(kind=c_char), pointer :: chars(:)
    integer :: length
    interface
      integer(c_size_t) function c_strlen(s) bind(c, name='strlen')
        import :: c_size_t, c_ptr
        type(c_ptr), value :: s
      end function
    end interface
    length = int(c_strlen(pointer))
    call c_f_pointer(pointer, chars, [length])
    allocate(character(len=length) :: text)
    text = transfer(chars, text)
  end function
end module omnistore
